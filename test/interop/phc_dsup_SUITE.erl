%% phc beside a real DistributedSupervisor cluster (am-kantox's
%% DistributedSupervisor 0.5.x with libring), phc not running one: two BEAM
%% members run DistributedSupervisor.start_link(name: Bar.DS,
%% monitor_nodes: true); a third node is merely connected, so it is in their
%% ring and the children that hash to it are started with
%% rpc:block_call(Third, DynamicSupervisor, start_child, ...). The third
%% node is a BEAM node without DistributedSupervisor (the expected
%% behaviour) in one case, phc in the other: every start_child must return
%% promptly, with the same answers.
%%
%% Needs the library built outside the repository: PHC_DSUP_LIBS names a
%% directory in ERL_LIBS layout (distributed_supervisor, libring,
%% nimble_options, nimble_options_ex, each with an ebin/); without it the
%% suite has no cases. Node names start with ds_.
-module(phc_dsup_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(DSUP, 'Elixir.DistributedSupervisor').
-define(NAME, 'Elixir.Bar.DS').
-define(ELIXIR, ["/usr/lib/elixir/lib/elixir/ebin", "/usr/lib/elixir/lib/logger/ebin"]).
-define(CHILDREN, 24).

suite() -> [{timetrap, {seconds, 120}}].

%% No cases without the library (run treats a skip as a failure).
all() ->
    case os:getenv("PHC_DSUP_LIBS") of
        false -> [];
        _ -> [beam_third_node, phc_third_node, beam_member, phc_member,
              beam_member_b, phc_member_b]
    end.

init_per_suite(Config) ->
    case os:getenv("PHC_DSUP_LIBS") of
        false -> {skip, "PHC_DSUP_LIBS not set (DistributedSupervisor built outside the repo)"};
        Libs ->
            case phc_interop:init_suite(Config) of
                {skip, _} = S -> S;
                C -> [{libs, Libs}, {twin, compile_twin(C)} | C]
            end
    end.

end_per_suite(_Config) -> ok.

%% The BEAM twin of phc's phc_counter (test/interop/standin), compiled into
%% priv_dir for the members: DistributedSupervisor children are started
%% from the same spec on every node.
compile_twin(Config) ->
    Src = proplists:get_value(source, ?MODULE:module_info(compile)),
    Dir = filename:join(?config(priv_dir, Config), "twin"),
    ok = filelib:ensure_path(Dir),
    {ok, _} = compile:file(filename:join([filename:dirname(Src), "standin",
                                          "phc_counter.erl"]),
                           [{outdir, Dir}]),
    Dir.

peer_args(Config) ->
    Libs = ?config(libs, Config),
    Ebins = [filename:join([Libs, D, "ebin"])
             || D <- ["distributed_supervisor", "libring", "nimble_options",
                      "nimble_options_ex"]],
    Twin = case ?config(twin, Config) of undefined -> []; T -> [T] end,
    lists:append([["-pa", P] || P <- ?ELIXIR ++ Ebins ++ Twin]).

%% ---- children: a minimal gen_server registered through the via name ------

child_start_link(Opts) ->
    gen_server:start_link(proplists:get_value(name, Opts), ?MODULE, [], []).

init([]) -> {ok, #{}}.
handle_call(ping, _From, S) -> {reply, {pong, node()}, S}.
handle_cast(_, S) -> {noreply, S}.

%% A long-lived process on a member owns the DistributedSupervisor.
ds_keeper() ->
    Parent = self(),
    Pid = spawn(fun() ->
                        {ok, _} = application:ensure_all_started(logger),
                        R = ?DSUP:start_link([{name, ?NAME}, {monitor_nodes, true}]),
                        Parent ! {self(), R},
                        receive stop -> ok end
                end),
    receive {Pid, R} -> {R, Pid} after 10000 -> timeout end.

%% ---- the two runs ------------------------------------------------------------

beam_third_node(Config) ->
    %% Elixir on its path (as in any Elixir cluster), no DistributedSupervisor
    {Peer, Third} = phc_interop:start_peer(ds_plain, #{args => ["-pa", hd(?ELIXIR)]}),
    try run(Config, Third) of
        Res -> ct:log("BEAM third node: ~p", [Res]), check(Res, Third)
    after
        phc_interop:stop_peer({Peer, Third})
    end.

phc_third_node(Config) ->
    %% the test node never connects to phc: phc's global would introduce it
    %% to A and B (connect-all, as a BEAM node's global does), putting it in
    %% their rings
    Phc = phc_interop:start_phc(Config, ds_phc, #{ping => false}),
    Third = maps:get(node, Phc),
    [Alive, _] = string:split(atom_to_list(Third), "@"),
    ok = phc_interop:wait_until(fun() -> {ok, Ns} = net_adm:names(),
                                         lists:keymember(Alive, 1, Ns) end, 10000),
    try run(Config, Third) of
        Res -> ct:log("phc third node: ~p", [Res]), check(Res, Third)
    after
        ct:log("phc stop: ~p", [phc_interop:stop_phc(Phc)])
    end.

%% Members A and B run Bar.DS and see Third; A starts ?CHILDREN children.
%% Returns [{Key, NodeFor, Result, Millis}].
run(Config, Third) ->
    Args = peer_args(Config),
    {PA, A} = phc_interop:start_peer(ds_a, #{args => Args}),
    {PB, B} = phc_interop:start_peer(ds_b, #{args => Args}),
    try
        %% peer:call over stdio: the test node itself must stay out of the ring
        [pong = peer:call(P, net_adm, ping, [M]) || {P, M} <- [{PA, B}, {PA, Third}, {PB, Third}]],
        [{{ok, _}, _} = peer:call(P, ?MODULE, ds_keeper, []) || P <- [PA, PB]],
        Want = lists:sort([A, B, Third]),
        case phc_interop:wait_until(fun() ->
                 lists:sort(peer:call(PA, ?DSUP, nodes, [?NAME])) =:= Want andalso
                 lists:sort(peer:call(PB, ?DSUP, nodes, [?NAME])) =:= Want
             end, 10000) of
            ok -> ok;
            timeout -> ct:fail({ring, peer:call(PA, ?DSUP, nodes, [?NAME]), Want})
        end,
        [begin
             K = list_to_atom("ds_child_" ++ integer_to_list(I)),
             Spec = #{id => K, start => {?MODULE, child_start_link, [{name, K}]}},
             For = peer:call(PA, ?DSUP, node_for, [?NAME, K]),
             T0 = erlang:monotonic_time(millisecond),
             R = peer:call(PA, ?DSUP, start_child, [?NAME, Spec], 10000),
             {K, For, R, erlang:monotonic_time(millisecond) - T0}
         end || I <- lists:seq(1, ?CHILDREN)]
    after
        phc_interop:stop_peer({PA, A}),
        phc_interop:stop_peer({PB, B})
    end.

%% Every start returned within a second: {ok, Pid, Key} on the members, and
%% on the third node the noproc exit of a node without the supervisor.
check(Res, Third) ->
    [begin
         ?assert(Ms < 1000),
         case For of
             Third ->
                 ?assertMatch({badrpc, {'EXIT', {noproc, {'Elixir.GenServer', call,
                     ['Elixir.Bar.DS.DynamicSupervisor',
                      {start_child, {{?MODULE, child_start_link, [_]}, permanent, 5000,
                                     worker, [?MODULE]}},
                      infinity]}}}}, R);
             _ ->
                 ?assertMatch({ok, P, K} when node(P) =:= For, R)
         end
     end || {K, For, R, Ms} <- Res],
    OnThird = length([x || {_, F, _, _} <- Res, F =:= Third]),
    ct:log("~p of ~p children hash to the third node", [OnThird, length(Res)]),
    ?assert(OnThird > 0).

%% ---- phc as a member (-dsup) ------------------------------------------------
%% Members A and B and a third member (a BEAM node running Bar.DS, or phc
%% with -dsup Bar.DS); A starts ?MEMBER_CHILDREN named phc_counter children
%% ({ok, Pid, Name} each, on node_for's node); DistributedSupervisor.call/3
%% by name from A and B; whereis/2 and children/1 compared on all three;
%% then one node is killed (kill -9): the third (phc_member, beam_member) or
%% member B (the _b cases, phc as a survivor) and every child must answer
%% by name again from A. (Two deaths in a row are not tested: the library's
%% Registry itself may then crash, see the report.)

-define(MEMBER_CHILDREN, 30).

beam_member(Config) -> beam_member(Config, third).
beam_member_b(Config) -> beam_member(Config, b).
phc_member(Config) -> phc_member(Config, third).
phc_member_b(Config) -> phc_member(Config, b).

beam_member(Config, Victim) ->
    Args = peer_args(Config),
    {PT, Third} = phc_interop:start_peer(ds_third, #{args => Args}),
    Kill = fun() -> phc_interop:os_signal(phc_interop:peer_os_pid({PT, Third}), "KILL") end,
    try member_run(Config, Third, fun(PA) -> {{ok, _}, _} = peer:call(PT, ?MODULE, ds_keeper, []), PA end, Kill, Victim) of
        Res -> ct:log("BEAM third member: ~p", [Res])
    after
        phc_interop:stop_peer({PT, Third})
    end.

phc_member(Config, Victim) ->
    %% the test node stays out of everyone's ring (it never connects to phc
    %% and talks to it through A)
    Phc = phc_interop:start_phc(Config, ds_phcm, #{args => ["-dsup", "Bar.DS"],
                                                   ping => false}),
    Third = maps:get(node, Phc),
    timer:sleep(500),
    Kill = fun() -> phc_interop:os_signal(maps:get(os_pid, Phc), "KILL") end,
    try member_run(Config, Third, fun(PA) -> PA end, Kill, Victim) of
        Res -> ct:log("phc third member: ~p", [Res])
    after
        ct:log("phc stop: ~p", [phc_interop:stop_phc(Phc)])
    end.

%% On the third node, from A: a DistributedSupervisor function.
on(PA, Third, F, Args) ->
    peer:call(PA, erpc, call, [Third, ?DSUP, F, [?NAME | Args], 5000]).

member_run(Config, Third, StartThird, Kill, Victim) ->
    Args = peer_args(Config),
    {PA, A} = phc_interop:start_peer(ds_ma, #{args => Args}),
    {PB, B} = phc_interop:start_peer(ds_mb, #{args => Args}),
    try
        [pong = peer:call(P, net_adm, ping, [M]) || {P, M} <- [{PA, B}, {PA, Third}, {PB, Third}]],
        StartThird(PA),
        [{{ok, _}, _} = peer:call(P, ?MODULE, ds_keeper, []) || P <- [PA, PB]],
        Want = lists:sort([A, B, Third]),
        Rings = fun() -> [lists:sort(peer:call(PA, ?DSUP, nodes, [?NAME])),
                          lists:sort(peer:call(PB, ?DSUP, nodes, [?NAME])),
                          lists:sort(on(PA, Third, nodes, []))] end,
        case phc_interop:wait_until(fun() -> Rings() =:= [Want, Want, Want] end, 10000) of
            ok -> ok;
            timeout -> ct:fail({rings, Rings(), Want})
        end,
        Keys = [list_to_atom("dsm_" ++ integer_to_list(I)) || I <- lists:seq(1, ?MEMBER_CHILDREN)],
        T0 = erlang:monotonic_time(millisecond),
        Started = [begin
                       For = peer:call(PA, ?DSUP, node_for, [?NAME, K]),
                       For = on(PA, Third, node_for, [K]),
                       R = peer:call(PA, ?DSUP, start_child,
                                     [?NAME, {phc_counter, [{name, K}, {value, I}]}], 10000),
                       {ok, Pid, K} = R,
                       For = node(Pid),
                       {K, I, Pid}
                   end || {I, K} <- lists:zip(lists:seq(1, ?MEMBER_CHILDREN), Keys)],
        StartMs = erlang:monotonic_time(millisecond) - T0,
        OnThird = [K || {K, _, P} <- Started, node(P) =:= Third],
        ct:log("~p children started in ~p ms, ~p on the third node",
               [length(Started), StartMs, length(OnThird)]),
        ?assert(length(OnThird) > 0),
        %% call/3 by name from A and B
        [I = peer:call(P, ?DSUP, call, [?NAME, K, get]) || {K, I, _} <- Started, P <- [PA, PB]],
        %% whereis/2 and children/1 the same on the three members
        Where = fun(F) -> [F(K) || K <- Keys] end,
        WA = Where(fun(K) -> peer:call(PA, ?DSUP, whereis, [?NAME, K]) end),
        WA = [P || {_, _, P} <- Started],
        WA = Where(fun(K) -> peer:call(PB, ?DSUP, whereis, [?NAME, K]) end),
        WA = Where(fun(K) -> on(PA, Third, whereis, [K]) end),
        Children = fun() -> [peer:call(PA, ?DSUP, children, [?NAME]),
                             peer:call(PB, ?DSUP, children, [?NAME]),
                             on(PA, Third, children, [])] end,
        case phc_interop:wait_until(fun() ->
                 [CA, CB, CT] = Children(),
                 maps:size(CA) =:= ?MEMBER_CHILDREN andalso CA =:= CB andalso CA =:= CT
             end, 10000) of
            ok -> ok;
            timeout -> ct:fail({children_differ, Children()})
        end,
        Local = lists:sort(on(PA, Third, local_children, [])),
        Local = lists:sort([P || {_, _, P} <- Started, node(P) =:= Third]),
        %% terminate_child/2 from A of a child on the third node, then start it again
        [{TK, TI, TP} | _] = [C || {_, _, P} = C <- Started, node(P) =:= Third],
        ok = peer:call(PA, ?DSUP, terminate_child, [?NAME, TP]),
        {error, not_found} = peer:call(PA, ?DSUP, terminate_child, [?NAME, TP]),
        ok = phc_interop:wait_until(fun() ->
                 undefined =:= peer:call(PA, ?DSUP, whereis, [?NAME, TK]) andalso
                 undefined =:= on(PA, Third, whereis, [TK])
             end, 5000),
        {ok, TP2, TK} = peer:call(PA, ?DSUP, start_child,
                                  [?NAME, {phc_counter, [{name, TK}, {value, TI}]}], 10000),
        Third = node(TP2),
        %% the join reaches B's scope asynchronously, as between BEAM members
        ok = phc_interop:wait_until(fun() ->
                 TP2 =:= peer:call(PB, ?DSUP, whereis, [?NAME, TK]) end, 5000),
        TI = peer:call(PB, ?DSUP, call, [?NAME, TK, get]),
        Back = fun(Keys1) ->
                   fun() ->
                       lists:all(fun(K) ->
                                     {_, I, _} = lists:keyfind(K, 1, Started),
                                     case catch peer:call(PA, ?DSUP, call, [?NAME, K, get, 1000]) of
                                         I -> is_pid(peer:call(PA, ?DSUP, whereis, [?NAME, K]));
                                         _ -> false
                                     end
                                 end, Keys1)
                   end
               end,
        Where1 = fun(Ks) -> lists:usort([node(peer:call(PA, ?DSUP, whereis, [?NAME, K])) || K <- Ks]) end,
        %% kill -9 of the victim (the third node, or member B): its children
        %% come back on the survivors and answer by name from A
        {Gone, KillIt} = case Victim of
                             third -> {Third, Kill};
                             b -> {B, fun() -> phc_interop:os_signal(
                                                   phc_interop:peer_os_pid({PB, B}), "KILL") end}
                         end,
        Lost = [K || {K, _, P} <- Started, node(P) =:= Gone],
        KillIt(),
        T1 = erlang:monotonic_time(millisecond),
        case phc_interop:wait_until(Back(Keys), 20000) of
            ok -> ok;
            timeout -> ct:fail({not_restarted, [{K, peer:call(PA, ?DSUP, whereis, [?NAME, K])} || K <- Lost]})
        end,
        RestartMs = erlang:monotonic_time(millisecond) - T1,
        NewNodes = Where1(Lost),
        ct:log("after kill -9 of ~p: ~p children back in ~p ms on ~p",
               [Victim, length(Lost), RestartMs, NewNodes]),
        #{started => length(Started), start_ms => StartMs, on_third => length(OnThird),
          killed => Victim, lost => length(Lost), restart_ms => RestartMs,
          restarted_on => NewNodes}
    after
        phc_interop:stop_peer({PA, A}),
        phc_interop:stop_peer({PB, B})
    end.
