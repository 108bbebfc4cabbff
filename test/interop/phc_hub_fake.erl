%% phc_hub_fake: a fake ProcessHub coordinator for a plain OTP node.
%%
%% Runs on a BEAM peer that has no ProcessHub. It owns what a BEAM hub
%% member shows on the wire: OTP's own `pg` scope 'hub.<HubId>.event_queue_pg'
%% and a process registered as HubId that joins the blockade groups of that
%% scope, as ProcessHub's coordinator does. It does not act on anything it
%% receives: every message is forwarded to a sink pid (the test case) as
%% {fake, node(), Msg}, so the suite can assert on exactly what phc sent.
%% It can also send on request from its own pid ({fake_send, To, Msg}).
%% It answers one call as a ProcessHub coordinator does: get_state, with
%% a %ProcessHub.Hub{} whose storage.misc is a table of its own that holds
%% no strategy (phc, which asks a joining peer for the hub's strategies,
%% keeps its own at once).
-module(phc_hub_fake).

-export([start/3, scope/1, groups/0, members/2, send_from/3, stop/1,
         kill_scope/1, restart_scope/2]).

groups() ->
    [distribute_children_event, cluster_join_event, cluster_leave_event,
     sync_remote_children_event, children_registration_event,
     children_unregistration_event, migration_add_event,
     child_process_pid_update_event].

scope(Hub) ->
    list_to_atom("hub." ++ atom_to_list(Hub) ++ ".event_queue_pg").

%% start(HubId, Groups, Sink) -> {ok, CoordPid, ScopePid}.
%% Called on the BEAM node (through peer:call or erpc); the fake outlives
%% the caller.
start(Hub, Groups, Sink) ->
    Caller = self(),
    Pid = spawn(fun() -> init(Caller, Hub, Groups, Sink) end),
    receive
        {Pid, started, ScopePid} -> {ok, Pid, ScopePid};
        {Pid, failed, Why} -> {error, Why}
    after 5000 -> {error, timeout}
    end.

init(Caller, Hub, Groups, Sink) ->
    true = register(Hub, self()),
    ok = load_fake_synchronizer(),
    Misc = ets:new(fake_misc, [set, protected]),
    put(hub_state, #{'__struct__' => 'Elixir.ProcessHub.Hub', hub_id => Hub,
                     storage => #{misc => Misc}}),
    case start_scope(Hub, Groups) of
        {ok, ScopePid} ->
            Caller ! {self(), started, ScopePid},
            loop(Hub, Sink);
        Err ->
            Caller ! {self(), failed, Err}
    end.

%% The scope is not linked to the fake: either can go without the other.
start_scope(Hub, Groups) ->
    Scope = scope(Hub),
    case pg:start_link(Scope) of
        {ok, ScopePid} ->
            unlink(ScopePid),
            [ok = pg:join(Scope, G, self()) || G <- Groups],
            {ok, ScopePid};
        Err ->
            Err
    end.

loop(Hub, Sink) ->
    receive
        {fake_restart_scope, From, Groups} ->
            From ! {self(), restarted, start_scope(Hub, Groups)},
            loop(Hub, Sink);
        {fake_send, From, To, Msg} ->
            To ! Msg,
            From ! {self(), sent},
            loop(Hub, Sink);
        {'$gen_call', From, get_state} ->
            gen:reply(From, get(hub_state)),
            loop(Hub, Sink);
        {fake_stop, From} ->
            From ! {self(), stopped},
            exit(shutdown);
        Msg ->
            Sink ! {fake, node(), Msg},
            loop(Hub, Sink)
    end.

%% pg members of Group in the hub's scope, as this node sees them.
members(Hub, Group) ->
    pg:get_members(scope(Hub), Group).

%% Send Msg to To from the fake coordinator's own pid; returns once sent.
send_from(Fake, To, Msg) ->
    Fake ! {fake_send, self(), To, Msg},
    receive {Fake, sent} -> ok after 5000 -> {error, timeout} end.

stop(Fake) ->
    Fake ! {fake_stop, self()},
    receive {Fake, stopped} -> ok after 5000 -> {error, timeout} end.

%% Kill the hub's scope (the fake coordinator stays); returns once it is
%% dead.
kill_scope(Hub) ->
    Pid = whereis(scope(Hub)),
    Ref = monitor(process, Pid),
    exit(Pid, kill),
    receive {'DOWN', Ref, process, Pid, _} -> ok after 5000 -> {error, timeout} end.

%% Start the scope again and join the fake to Groups in it.
restart_scope(Fake, Groups) ->
    Fake ! {fake_restart_scope, self(), Groups},
    receive {Fake, restarted, R} -> R after 5000 -> {error, timeout} end.

%% A stand-in for ProcessHub's Synchronizer on this node: the periodic sync
%% phc casts to rex (exec_interval_sync/4) reaches the fake coordinator
%% (registered as the hub id) as {interval_sync, Strategy, Data, Node}.
load_fake_synchronizer() ->
    Src = ["-module('Elixir.ProcessHub.Service.Synchronizer').",
           "-export([exec_interval_sync/4]).",
           "exec_interval_sync(Hub, Strat, Data, Node) ->"
           " Hub ! {interval_sync, Strat, Data, Node}, ok."],
    Forms = [begin
                 {ok, T, _} = erl_scan:string(S),
                 {ok, F} = erl_parse:parse_form(T),
                 F
             end || S <- Src],
    {ok, M, Bin} = compile:forms(Forms),
    {module, M} = code:load_binary(M, "phc_hub_fake_synchronizer", Bin),
    ok.
