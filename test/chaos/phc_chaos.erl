%% The churn test (make chaos): a hub of three members, two BEAM nodes with
%% real ProcessHub (a, b) and a third (phc-node, or a BEAM node in its
%% place), CHAOS_CHILDREN children; then CHAOS_CYCLES times: kill -9 the
%% third member, start it again at once (after CHAOS_PAUSE_MS), and wait
%% until the hub settles, where settled means, on every member:
%%   - ProcessHub.nodes(hub, [:include_local]) is the three members;
%%   - Supervisor.which_children of the hub's supervisor (what each member
%%     really runs, not what its registry says) holds exactly the children
%%     the ring (ProcessHub.Service.Ring, computed on a BEAM member) places
%%     there, phc included;
%%   - ProcessHub.process_list(hub, :global) is identical on all three and
%%     names, for each child, that one node and the pid it runs as.
%% A cycle that does not settle within CHAOS_SETTLE_MS is classified per
%% child: lost (running nowhere, registered nowhere), unregistered (running
%% but missing from a registry) or other (misplaced, duplicated, stale).
%% Lost children are started again, and orphans (running on a node but
%% registered nowhere: ProcessHub's own, seen with BEAM members alone) are
%% stopped and started again, so later cycles start whole.
%%
%% It runs as a hidden node (ctl), so it is never a hub member. test/chaos/run
%% sets the environment and the network namespace; README.md, "Churn test".
-module(phc_chaos).
-export([main/0, start_hub/1, ring_owners/2]).

-define(HUB, my_hub).
-define(DSUP,
        {via, 'Elixir.Registry', {'hub.my_hub.system_registry', <<"dist_sup">>}}).
-define(COOKIE, "chaos").

main() ->
    process_flag(trap_exit, true),
    Cfg = cfg(),
    Res = try run(Cfg)
          catch C:E:S ->
                  say("chaos: aborted: ~p:~p~n~p~n", [C, E, S]),
                  error
          end,
    stop_all(),
    halt(case Res of ok -> 0; _ -> 1 end).

env(K, D) -> case os:getenv(K) of false -> D; "" -> D; V -> V end.
ienv(K, D) -> list_to_integer(env(K, integer_to_list(D))).

cfg() ->
    Otp = env("CHAOS_OTP", "25"),
    #{cycles => ienv("CHAOS_CYCLES", 20),
      member => list_to_atom(env("CHAOS_MEMBER", "phc")),
      otp => Otp,
      children => ienv("CHAOS_CHILDREN", 80),
      pause => ienv("CHAOS_PAUSE_MS", 0),
      settle => ienv("CHAOS_SETTLE_MS", 30000),
      phc => env("PHC_NODE", "build/phc-node"),
      dir => env("CHAOS_DIR", "."),      % the work dir, as this node sees it
      mdir => env("CHAOS_MDIR", "."),    % the same dir, as members see it
      libs => env("CHAOS_LIBS", ""),     % ProcessHub libs, as members see them
      root => env("CHAOS_ROOT", ""),     % chroot of the members ("": none)
      erl_args => env("CHAOS_ERL_ARGS", ""), % more erl flags for BEAM members
      connect_first => env("CHAOS_BEAM_CONNECT_FIRST", "") =/= ""}.

say(F, A) -> io:format(F, A).

%% ---- members ------------------------------------------------------------

node_name(S) -> list_to_atom(atom_to_list(S) ++ "@127.0.0.1").

beam_cmd(Short, #{mdir := D, libs := L, erl_args := Args}) ->
    lists:flatten(
      io_lib:format("exec erl -name ~s@127.0.0.1 -setcookie ~s -noshell -noinput ~s"
                    " -pa /usr/lib/elixir/lib/*/ebin -pa ~s/*/ebin -pa ~s/ebin"
                    " >>~s/~s.log 2>&1",
                    [Short, ?COOKIE, Args, L, D, D, Short])).

spawn_sh(Cmd, #{root := ""}) ->
    open_port({spawn_executable, "/bin/sh"}, [{args, ["-c", Cmd]}]);
spawn_sh(Cmd, #{root := Root}) ->
    open_port({spawn_executable, os:find_executable("chroot")},
              [{args, [Root, "/bin/sh", "-c", Cmd]}]).

%% Start BEAM member Short with the hub running; returns its OS pid.
start_beam(Short, Peers, Cfg) ->
    N = node_name(Short),
    _ = spawn_sh(beam_cmd(Short, Cfg), Cfg),
    ok = wait_up(N, 30000),
    OsPid = rpc(N, os, getpid, []),
    put({ospid, N}, OsPid),
    put(started, [OsPid | get_list(started)]),
    %% the hub first, then the peers: as phc-node does, and as a node that
    %% starts ProcessHub with its applications does (CHAOS_BEAM_CONNECT_FIRST
    %% reverses it: ProcessHub then loses children, see README)
    Connect = fun() -> [true = rpc(N, net_kernel, connect_node, [P]) || P <- Peers] end,
    maps:get(connect_first, Cfg) andalso Connect(),
    {ok, _} = rpc(N, ?MODULE, start_hub, [[]]),
    maps:get(connect_first, Cfg) orelse Connect(),
    OsPid.

get_list(K) -> case get(K) of undefined -> []; L -> L end.

%% phc-node as member Short; returns its OS pid.
start_phc(Short, Peers, #{phc := Phc, dir := D}) ->
    N = node_name(Short),
    Cmd = lists:flatten(
            io_lib:format("exec ~s -name ~s@127.0.0.1 -setcookie ~s ~s -hub ~s"
                          " -hubs_discover_interval 1000 >>~s/~s.log 2>&1",
                          [Phc, Short, ?COOKIE,
                           [["-connect ", atom_to_list(P), " "] || P <- Peers],
                           ?HUB, D, Short])),
    Port = open_port({spawn_executable, "/bin/sh"}, [{args, ["-c", Cmd]}, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    put({ospid, N}, integer_to_list(OsPid)),
    put(started, [integer_to_list(OsPid) | get_list(started)]),
    ok = wait_up(N, Port, 15000),
    OsPid.

start_member(Short, Peers, Cfg = #{member := beam}) -> start_beam(Short, Peers, Cfg);
start_member(Short, Peers, Cfg = #{member := phc}) -> start_phc(Short, Peers, Cfg).

%% Start it, once more if the name was still taken in epmd.
restart_member(Short, Peers, Cfg) ->
    try start_member(Short, Peers, Cfg)
    catch _:_ ->
            kill(node_name(Short)),
            timer:sleep(500),
            say("  (cycle restart: once more)~n", []),
            start_member(Short, Peers, Cfg)
    end.

wait_up(N, T) -> wait_up(N, none, T).

%% Up within T ms; a phc-node that exits first (epmd still holds its old
%% name) fails at once, and the caller starts it again.
wait_up(N, _Port, T) when T =< 0 -> {not_up, N};
wait_up(N, Port, T) ->
    receive {Port, {exit_status, S}} -> {exited, N, S}
    after 0 ->
            case net_adm:ping(N) of
                pong -> ok;
                pang -> timer:sleep(100), wait_up(N, Port, T - 100)
            end
    end.

kill(N) ->
    case get({ospid, N}) of
        undefined -> ok;
        P -> os:cmd("kill -9 " ++ P), erase({ospid, N}), ok
    end.

stop_all() ->
    [os:cmd("kill -9 " ++ P) || P <- get_list(started)],
    ok.

rpc(N, M, F, A) ->
    case rpc:call(N, M, F, A, 20000) of
        {badrpc, R} -> error({badrpc, N, M, F, R});
        V -> V
    end.

%% ---- on a BEAM member ---------------------------------------------------

%% Start ProcessHub's hub under a supervisor of its own, not linked to the
%% rpc process that asks.
start_hub(_Opts) ->
    {ok, _} = application:ensure_all_started(logger),
    'Elixir.Logger':configure([{level, warning}]),
    {ok, _} = application:ensure_all_started(process_hub),
    Self = self(),
    Ref = make_ref(),
    spawn(fun() ->
                  S = 'Elixir.Kernel':struct('Elixir.ProcessHub',
                                             [{hub_id, ?HUB},
                                              {hubs_discover_interval, 1000}]),
                  R = 'Elixir.Supervisor':start_link(
                        ['Elixir.ProcessHub':child_spec(S)],
                        [{strategy, one_for_one}, {name, chaos_hub_sup}]),
                  Self ! {Ref, R},
                  timer:sleep(infinity)
          end),
    receive {Ref, R} -> R after 15000 -> {error, timeout} end.

ring_owners(Nodes, Cids) ->
    R = 'Elixir.ProcessHub.Service.Ring':create_ring(Nodes),
    [{C, 'Elixir.ProcessHub.Service.Ring':key_to_node(R, C, 1)} || C <- Cids].

%% ---- checking -----------------------------------------------------------

cids(K) -> [iolist_to_binary(["chaos_", integer_to_list(I)]) || I <- lists:seq(1, K)].

spec(C) -> #{id => C, start => {phc_counter, start_link, [0]}}.

ecall(N, M, F, A) ->
    try erpc:call(N, M, F, A, 5000) of V -> {ok, V} catch C:E -> {error, {C, E}} end.

%% What each node says: {HubNodes, ProcessList, Running}, or error.
observe(Nodes) ->
    [{N, observe1(N)} || N <- Nodes].

observe1(N) ->
    case {ecall(N, 'Elixir.ProcessHub', nodes, [?HUB, [include_local]]),
          ecall(N, 'Elixir.ProcessHub', process_list, [?HUB, global]),
          running(N)} of
        {{ok, HN}, {ok, PL}, {ok, Run}} ->
            {lists:sort(HN), lists:sort([{C, lists:sort(NP)} || {C, NP} <- PL]), Run};
        Other ->
            {error, Other}
    end.

local_pid([{_, P}]) -> P;
local_pid(P) -> P.

%% What N runs: Supervisor.which_children of the hub's supervisor; for a
%% phc-node without that native (an older build), its registry's local
%% rows instead (said once).
running(N) ->
    case ecall(N, 'Elixir.Supervisor', which_children, [?DSUP]) of
        {ok, WC} ->
            {ok, lists:sort([{C, P} || {C, P, _, _} <- WC])};
        {error, {error, {exception, undef, _}}} ->
            get(no_wc) =:= undefined andalso
                say("chaos: ~s has no Supervisor.which_children; using its registry~n", [N]),
            put(no_wc, true),
            case ecall(N, 'Elixir.ProcessHub', process_list, [?HUB, local]) of
                {ok, L} -> {ok, lists:sort([{C, local_pid(X)} || {C, X} <- L])};
                E -> E
            end;
        E ->
            E
    end.

%% ok, or {bad, Why} for observations Obs against owners Own (a map).
verdict(Nodes, Obs, Own) ->
    Errs = [E || E = {_, {error, _}} <- Obs],
    Want = lists:sort(Nodes),
    if Errs =/= [] -> {bad, {unreachable, Errs}};
       true ->
            Running = maps:from_list([{N, R} || {N, {_, _, R}} <- Obs]),
            WantRun = maps:from_list(
                        [{N, lists:sort([C || {C, O} <- maps:to_list(Own), O =:= N])}
                         || N <- Nodes]),
            RunOk = lists:all(fun(N) -> [C || {C, _} <- maps:get(N, Running)]
                                            =:= maps:get(N, WantRun) end, Nodes),
            WantPL = lists:sort([{C, [{N, P}]} || N <- Nodes,
                                                  {C, P} <- maps:get(N, Running)]),
            PLOk = lists:all(fun({_, {_, PL, _}}) -> PL =:= WantPL end, Obs),
            HNOk = lists:all(fun({_, {HN, _, _}}) -> HN =:= Want end, Obs),
            case {HNOk, RunOk, PLOk} of
                {true, true, true} -> ok;
                W -> {bad, W}
            end
    end.

%% Per child that is not right: lost (running nowhere, registered nowhere),
%% unregistered (running, missing from some registry), misplaced (running
%% elsewhere than the ring says) or other (registries disagree on it), each
%% with the node the ring gives it.
classify(_Nodes, Obs, Own) ->
    Good = [O || {_, O = {_, _, _}} <- Obs],
    Run = lists:append([R || {_, _, R} <- Good]),
    Regs = [PL || {_, PL, _} <- Good],
    Where = fun(C) -> [N || {N, {_, _, R}} <- Obs, lists:keymember(C, 1, R)] end,
    F = fun(C, Acc) ->
                Owner = maps:get(C, Own),
                InRegs = [lists:keyfind(C, 1, PL) || PL <- Regs],
                Placed = Where(C) =:= [Owner],
                K = case {lists:keymember(C, 1, Run), lists:all(fun(X) -> X =/= false end, InRegs),
                          lists:any(fun(X) -> X =/= false end, InRegs)} of
                        {false, _, false} -> lost;
                        {true, false, _} -> unregistered;
                        {true, true, _} when not Placed -> misplaced;
                        _ ->
                            case lists:usort(InRegs) of
                                [{C, [{Owner, _}]}] when Placed -> fine;
                                _ -> other
                            end
                    end,
                case K of
                    fine -> Acc;
                    lost -> Acc#{K => [{C, Owner} | maps:get(K, Acc, [])]};
                    _ -> Acc#{K => [{C, Owner, seen(C, Obs)} | maps:get(K, Acc, [])]}
                end
        end,
    lists:foldl(F, #{}, lists:sort(maps:keys(Own))).

%% Where C runs and what each registry says of it.
seen(C, Obs) ->
    [{N, case lists:keyfind(C, 1, R) of false -> not_running; {_, P} -> P end,
      case lists:keyfind(C, 1, PL) of false -> not_registered; {_, NP} -> NP end}
     || {N, {_, PL, R}} <- Obs].

owners(A, Nodes, Cids) -> maps:from_list(rpc(A, ?MODULE, ring_owners, [Nodes, Cids])).

%% Poll until settled or Deadline (ms); returns {ok, Ms} or {bad, Obs}.
settle(Nodes, Own, T0, Limit) ->
    Obs = observe(Nodes),
    Ms = erlang:monotonic_time(millisecond) - T0,
    case verdict(Nodes, Obs, Own) of
        ok -> {ok, Ms};
        {bad, _} when Ms > Limit -> {bad, Obs};
        {bad, _} -> timer:sleep(250), settle(Nodes, Own, T0, Limit)
    end.

%% ---- the run ------------------------------------------------------------

run(Cfg = #{cycles := Cycles, member := Member, otp := Otp, children := K,
            settle := Limit}) ->
    X = case Member of phc -> chaos_phc; beam -> chaos_c end,
    [A, B, XN] = Nodes = [node_name(chaos_a), node_name(chaos_b), node_name(X)],
    start_beam(chaos_a, [], Cfg),
    start_beam(chaos_b, [A], Cfg),
    start_member(X, [A, B], Cfg),
    Cids = cids(K),
    Own = owners(A, Nodes, Cids),
    ok = wait_hub(Nodes, 30000),
    {ok, _} = rpc(A, 'Elixir.ProcessHub', start_children, [?HUB, [spec(C) || C <- Cids], []]),
    {ok, Ms0} = case settle(Nodes, Own, now_ms(), Limit) of
                    {ok, _} = S0 -> S0;
                    {bad, O0} -> error({initial_population, verdict(Nodes, O0, Own)})
                end,
    say("chaos: member=~s otp=~s (~s) children=~b populated in ~b ms; on ~s: ~b~n",
        [Member, Otp, rpc(A, erlang, system_info, [otp_release]), K, Ms0, XN,
         length([C || {C, O} <- maps:to_list(Own), O =:= XN])]),
    St = lists:foldl(fun(I, Acc) -> cycle(I, X, [A, B], Nodes, Own, Cfg, Acc) end,
                     #{ok => 0, lost_cycles => 0, lost => 0, unreg_cycles => 0,
                       other_cycles => 0, ms => []}, lists:seq(1, Cycles)),
    Sorted = lists:sort(maps:get(ms, St)),
    Med = case Sorted of [] -> 0; _ -> lists:nth((length(Sorted) + 1) div 2, Sorted) end,
    say("chaos: RESULT member=~s otp=~s cycles=~b settled=~b lost_cycles=~b "
        "lost_children=~b unregistered_cycles=~b (of which orphaned: ~b) other_cycles=~b "
        "median_settle_ms=~b~n",
        [Member, Otp, Cycles, maps:get(ok, St), maps:get(lost_cycles, St),
         maps:get(lost, St), maps:get(unreg_cycles, St), maps:get(orphan_cycles, St, 0),
         maps:get(other_cycles, St), Med]),
    case maps:get(ok, St) of Cycles -> ok; _ -> failed end.

now_ms() -> erlang:monotonic_time(millisecond).

wait_hub(Nodes, T) when T =< 0 -> {hub_not_formed, observe(Nodes)};
wait_hub(Nodes, T) ->
    Want = lists:sort(Nodes),
    case [N || N <- Nodes,
               case ecall(N, 'Elixir.ProcessHub', nodes, [?HUB, [include_local]]) of
                   {ok, L} -> lists:sort(L) =/= Want;
                   _ -> true
               end] of
        [] -> ok;
        _ -> timer:sleep(200), wait_hub(Nodes, T - 200)
    end.

mark(Short, I, #{dir := D}) ->
    file:write_file(filename:join(D, atom_to_list(Short) ++ ".log"),
                    io_lib:format("==== chaos cycle ~b~n", [I]), [append]).

cycle(I, X, Peers, Nodes, Own, Cfg = #{pause := Pause, settle := Limit}, St) ->
    XN = node_name(X),
    kill(XN),
    Pause > 0 andalso timer:sleep(Pause),
    mark(X, I, Cfg),
    T0 = now_ms(),
    restart_member(X, Peers, Cfg),
    case settle(Nodes, Own, T0, Limit) of
        {ok, Ms} ->
            say("cycle ~b ok ~b ms~n", [I, Ms]),
            St#{ok := maps:get(ok, St) + 1, ms := [Ms | maps:get(ms, St)]};
        {bad, Obs} ->
            Cl = classify(Nodes, Obs, Own),
            Lost = [C || {C, _} <- maps:get(lost, Cl, [])],
            say("cycle ~b FAILED ~p~n  ~p~n", [I, verdict(Nodes, Obs, Own), Cl]),
            repair(Nodes, Own, Lost, orphans(Cl), Limit),
            St#{lost_cycles := maps:get(lost_cycles, St) + min(1, length(Lost)),
                orphan_cycles => maps:get(orphan_cycles, St, 0) + min(1, length(orphans(Cl))),
                lost := maps:get(lost, St) + length(Lost),
                unreg_cycles := maps:get(unreg_cycles, St)
                    + min(1, length(maps:get(unregistered, Cl, []))),
                other_cycles := maps:get(other_cycles, St)
                    + min(1, length(maps:get(other, Cl, []))
                          + length(maps:get(misplaced, Cl, [])))}
    end.

%% Children that run on some node but are registered nowhere (ProcessHub's
%% own orphans, seen with BEAM members alone): [{Node, Cid}].
orphans(Cl) ->
    [{N, C} || {C, _, Seen} <- maps:get(unregistered, Cl, []),
               lists:all(fun({_, _, Reg}) -> Reg =:= not_registered end, Seen),
               {N, P, _} <- Seen, is_pid(P)].

%% Start the lost children again (orphans are stopped first, as nothing
%% would ever stop them) and wait, so the next cycle starts whole.
repair([A | _] = Nodes, Own, Lost0, Orphans, Limit) ->
    [ecall(N, 'Elixir.ProcessHub.DistributedSupervisor', terminate_child, [?DSUP, C])
     || {N, C} <- Orphans],
    Lost = Lost0 ++ [C || {_, C} <- Orphans],
    Lost =/= [] andalso
        rpc(A, 'Elixir.ProcessHub', start_children, [?HUB, [spec(C) || C <- Lost], []]),
    case settle(Nodes, Own, now_ms(), Limit) of
        {ok, _} -> ok;
        {bad, Obs} -> say("  still unsettled: ~p~n", [classify(Nodes, Obs, Own)])
    end.
