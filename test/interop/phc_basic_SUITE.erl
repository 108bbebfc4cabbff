%% Basic interop: phc-node seen from a real OTP node as just another node.
%% ping, node lists both ways, global, gen_server call/cast/info to the
%% built-in C children, rpc/erpc (success and undef, compared with what a
%% BEAM node returns), the -connect / -hidden flags and the CLI itself.
-module(phc_basic_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(phc_interop, [wait_until/2]).

suite() -> [{timetrap, {seconds, 60}}].

all() ->
    [ping, nodes_both_ways, node_name_via_rpc, global_sync_fast,
     global_register_and_trans, global_with_second_beam_node,
     counter_call, counter_cast, counter_info, echo_call_terms, kv_call,
     call_unknown_pid_exits, rpc_success, erpc_success, rpc_undef_like_beam,
     erpc_undef_like_beam, spawn_request_start_link, spawn_undef_like_beam,
     connect_flag, hidden_flag, cli_help, cli_bad_flag, sigterm_graceful].

init_per_suite(Config) ->
    phc_interop:init_suite(Config).

end_per_suite(_Config) -> ok.

init_per_testcase(TC, Config)
  when TC =:= connect_flag; TC =:= hidden_flag; TC =:= cli_help;
       TC =:= cli_bad_flag; TC =:= sigterm_graceful ->
    Config;
init_per_testcase(_TC, Config) ->
    Phc = phc_interop:start_phc(Config, phc),
    [{phc, Phc}, {phc_node, maps:get(node, Phc)} | Config].

end_per_testcase(_TC, Config) ->
    Phcs = [V || {K, V} <- Config, K =:= phc orelse K =:= phc2],
    Peers = [V || {peer, V} <- Config],
    lists:foreach(fun phc_interop:stop_peer/1, Peers),
    Results = [{maps:get(node, P), phc_interop:stop_phc(P),
                phc_interop:sanitizer_report(P)} || P <- Phcs],
    ct:log("phc stop results: ~p", [Results]),
    case [R || {_, _, {found, _}} = R <- Results] of
        [] -> ok;
        Bad ->
            [ct:log("phc log ~s:~n~s", [maps:get(log, P), phc_interop:phc_log(P)])
             || P <- Phcs],
            {fail, {sanitizer_report, Bad}}
    end.

phc(Config) -> ?config(phc_node, Config).

%% ---------------------------------------------------------------------

ping(Config) ->
    Phc = phc(Config),
    ?assertEqual(pong, net_adm:ping(Phc)),
    ?assertEqual(pong, net_adm:ping(Phc)).

nodes_both_ways(Config) ->
    Phc = phc(Config),
    ?assert(lists:member(Phc, nodes())),
    ?assertNot(lists:member(Phc, nodes(hidden))),
    PhcNodes = rpc:call(Phc, erlang, nodes, []),
    ct:log("phc's nodes(): ~p", [PhcNodes]),
    ?assert(is_list(PhcNodes)),
    ?assert(lists:member(node(), PhcNodes)).

node_name_via_rpc(Config) ->
    Phc = phc(Config),
    ?assertEqual(Phc, rpc:call(Phc, erlang, node, [])).

global_sync_fast(Config) ->
    Phc = phc(Config),
    true = lists:member(Phc, nodes()),
    {T1, R1} = timer:tc(global, sync, []),
    ct:log("global:sync() -> ~p in ~w us", [R1, T1]),
    ?assertEqual(ok, R1),
    ?assert(T1 < 1000000),
    %% and again, once everything is settled
    {T2, ok} = timer:tc(global, sync, []),
    ?assert(T2 < 1000000),
    %% phc is still there afterwards
    ?assertEqual(pong, net_adm:ping(Phc)).

global_register_and_trans(Config) ->
    Phc = phc(Config),
    ok = global:sync(),
    Name = {phc_interop_name, erlang:unique_integer()},
    {T, Res} = timer:tc(global, register_name, [Name, self()]),
    ct:log("global:register_name -> ~p in ~w us", [Res, T]),
    ?assertEqual(yes, Res),
    ?assertEqual(self(), global:whereis_name(Name)),
    ?assertEqual(done, global:trans({phc_lock, self()}, fun() -> done end, [node(), Phc], 3)),
    ?assertEqual(done, global:trans({phc_lock2, self()}, fun() -> done end)),
    _ = global:unregister_name(Name),
    ?assertEqual(undefined, global:whereis_name(Name)),
    ?assertEqual(pong, net_adm:ping(Phc)).

global_with_second_beam_node(Config0) ->
    Phc = phc(Config0),
    {PeerPid, Peer} = P = phc_interop:start_peer(g),
    put_peer(P),
    ?assertEqual(pong, peer:call(PeerPid, net_adm, ping, [Phc])),
    ?assertEqual(pong, peer:call(PeerPid, net_adm, ping, [node()])),
    {T, ok} = peer:call(PeerPid, timer, tc, [global, sync, []]),
    ct:log("peer global:sync in ~w us", [T]),
    %% ~0.2 s, as with a BEAM node in phc's place (phc lets a newcomer that
    %% knows nobody lead, see global.h); it was 1.1 s before.
    ?assert(T < 1000000),
    {T2, ok} = timer:tc(global, sync, []),
    ?assert(T2 < 1000000),
    Name = {phc_interop_peer, erlang:unique_integer()},
    Me = self(),
    ?assertEqual(yes, peer:call(PeerPid, global, register_name,
                                [Name, Me])),
    ok = global:sync(),
    ?assertEqual(Me, global:whereis_name(Name)),
    ?assert(lists:member(Peer, nodes())),
    PhcNodes = rpc:call(Phc, erlang, nodes, []),
    ?assert(lists:member(Peer, PhcNodes)),
    ok.

%% peers started inside a test case are stopped by the test case itself
put_peer(P) ->
    Self = self(),
    spawn(fun() ->
                  Ref = monitor(process, Self),
                  receive {'DOWN', Ref, _, _, _} -> phc_interop:stop_peer(P) end
          end).

counter_call(Config) ->
    Phc = phc(Config),
    {ok, Pid} = rpc:call(Phc, phc_counter, start_link, [0]),
    ?assert(is_pid(Pid)),
    ?assertEqual(Phc, node(Pid)),
    ?assertEqual(2, gen_server:call(Pid, {add, 2})),
    ?assertEqual(5, gen_server:call(Pid, {add, 3})),
    ?assertEqual(5, gen_server:call(Pid, get)),
    ?assertEqual(-5, gen_server:call(Pid, {add, -10})),
    %% integers beyond 32 bits survive the round trip
    Big = 1 bsl 40,
    ?assertEqual(Big - 5, gen_server:call(Pid, {add, Big})),
    %% a second counter is independent
    {ok, Pid2} = rpc:call(Phc, phc_counter, start_link, [7]),
    ?assertNotEqual(Pid, Pid2),
    ?assertEqual(7, gen_server:call(Pid2, get)),
    %% calls from many processes at once all get their own reply
    {ok, Pid3} = rpc:call(Phc, phc_counter, start_link, [0]),
    Self = self(),
    Ps = [spawn_link(fun() -> Self ! {done, self(), gen_server:call(Pid3, {add, 1})} end)
          || _ <- lists:seq(1, 50)],
    Vals = [receive {done, P, V} -> V after 5000 -> timeout end || P <- Ps],
    ?assertEqual(lists:seq(1, 50), lists:sort(Vals)),
    ?assertEqual(50, gen_server:call(Pid3, get)).

counter_cast(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    ok = gen_server:cast(Pid, {add, 5}),
    ok = gen_server:cast(Pid, {add, 6}),
    ?assertEqual(11, gen_server:call(Pid, get)).

counter_info(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Pid ! {add, 7},
    Pid ! {add, 1},
    ?assertEqual(8, gen_server:call(Pid, get)),
    %% many one-way sends, then a call: all of them arrive, in order
    [Pid ! {add, 1} || _ <- lists:seq(1, 1000)],
    ?assertEqual(1008, gen_server:call(Pid, get)).

echo_call_terms(Config) ->
    Phc = phc(Config),
    {ok, Pid} = rpc:call(Phc, phc_echo, start_link, [[]]),
    Terms = [hello, 42, -1, 1 bsl 70, 3.25, <<"bin">>, <<0:8000>>,
             "a string", [1, [2, [3]]], {a, {b, c}}, #{k => v, 1 => [x]},
             self(), make_ref(), 'ünïcødé_atom', <<1:3>>, [], {}],
    [?assertEqual(T, gen_server:call(Pid, T)) || T <- Terms],
    Big = binary:copy(<<"x">>, 1000000),
    ?assertEqual({big, Big}, gen_server:call(Pid, {big, Big}, 10000)).

kv_call(Config) ->
    Phc = phc(Config),
    {ok, Pid} = rpc:call(Phc, phc_kv, start_link, [[]]),
    ?assertEqual(nil, gen_server:call(Pid, {get, a})),
    ?assertEqual(ok, gen_server:call(Pid, {put, a, 1})),
    ?assertEqual(ok, gen_server:call(Pid, {put, "b", {2, <<"two">>}})),
    ?assertEqual(1, gen_server:call(Pid, {get, a})),
    ?assertEqual({2, <<"two">>}, gen_server:call(Pid, {get, "b"})),
    ?assertEqual(ok, gen_server:call(Pid, {put, a, 3})),
    ?assertEqual(3, gen_server:call(Pid, {get, a})),
    ?assertEqual(lists:sort([a, "b"]), lists:sort(gen_server:call(Pid, keys))).

call_unknown_pid_exits(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    ok = gen_server:call(Pid, stop),
    ok = wait_until(fun() -> not is_alive_remote(Pid) end, 5000),
    ?assertMatch({'EXIT', {noproc, {gen_server, call, _}}},
                 catch gen_server:call(Pid, get, 2000)).

is_alive_remote(Pid) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, _} -> false
    after 200 -> demonitor(Ref, [flush]), true
    end.

rpc_success(Config) ->
    Phc = phc(Config),
    ?assertEqual(Phc, rpc:call(Phc, erlang, node, [])),
    {ok, Pid} = rpc:call(Phc, phc_counter, start, [5]),
    ?assertEqual(5, gen_server:call(Pid, get)),
    {ok, Pid2} = rpc:call(Phc, phc_kv, start, [[]]),
    ?assertEqual(ok, gen_server:call(Pid2, {put, k, v})),
    {ok, Pid3} = rpc:call(Phc, phc_echo, start, [[]]),
    ?assertEqual(ping, gen_server:call(Pid3, ping)).

erpc_success(Config) ->
    Phc = phc(Config),
    ?assertEqual(Phc, erpc:call(Phc, erlang, node, [])),
    ?assert(lists:member(node(), erpc:call(Phc, erlang, nodes, []))),
    {ok, Pid} = erpc:call(Phc, phc_counter, start_link, [1]),
    ?assertEqual(3, gen_server:call(Pid, {add, 2})),
    %% async request / multicall flavours
    ReqId = erpc:send_request(Phc, erlang, node, []),
    ?assertEqual(Phc, erpc:receive_response(ReqId, 5000)),
    ?assertMatch([{ok, Phc}], erpc:multicall([Phc], erlang, node, [], 5000)).

rpc_undef_like_beam(Config) ->
    Phc = phc(Config),
    {PeerPid, Beam} = P = phc_interop:start_peer(undef),
    put_peer(P),
    ?assertEqual(pong, net_adm:ping(Beam)),
    _ = PeerPid,
    Cases = [{nosuch_mod, nosuch_fun, [1, two]}, {erlang, nosuch_fun, []},
             {phc_counter, nosuch_fun, [0]}],
    lists:foreach(
      fun({M, F, A}) ->
              OnBeam = rpc:call(Beam, M, F, A),
              OnPhc = rpc:call(Phc, M, F, A),
              ct:log("rpc:call(~p,~p,~p)~n beam: ~p~n phc:  ~p", [M, F, A, OnBeam, OnPhc]),
              ?assertMatch({badrpc, {'EXIT', {undef, [{M, F, A, _} | _]}}}, OnBeam),
              ?assertMatch({badrpc, {'EXIT', {undef, [{M, F, A, _} | _]}}}, OnPhc),
              {badrpc, {'EXIT', {undef, [{M, F, A, BLoc} | _]}}} = OnBeam,
              {badrpc, {'EXIT', {undef, [{M, F, A, PLoc} | _]}}} = OnPhc,
              ?assertEqual(BLoc, PLoc)
      end, Cases),
    %% the node is still serving afterwards
    ?assertEqual(Phc, rpc:call(Phc, erlang, node, [])).

erpc_undef_like_beam(Config) ->
    Phc = phc(Config),
    {_, Beam} = P = phc_interop:start_peer(undef),
    put_peer(P),
    ?assertEqual(pong, net_adm:ping(Beam)),
    Try = fun(N) ->
                  try erpc:call(N, nosuch_mod, nosuch_fun, [x], 5000) of
                      V -> {returned, V}
                  catch C:R -> {C, R}
                  end
          end,
    OnBeam = Try(Beam),
    OnPhc = Try(Phc),
    ct:log("erpc undef~n beam: ~p~n phc:  ~p", [OnBeam, OnPhc]),
    ?assertMatch({error, {exception, undef, [{nosuch_mod, nosuch_fun, [x], _} | _]}},
                 OnBeam),
    ?assertMatch({error, {exception, undef, [{nosuch_mod, nosuch_fun, [x], _} | _]}},
                 OnPhc),
    {error, {exception, undef, [BTop | _]}} = OnBeam,
    {error, {exception, undef, [PTop | _]}} = OnPhc,
    ?assertEqual(BTop, PTop).

%% spawn_request straight from the BEAM (the mechanism behind erpc),
%% asking for the DOWN of the spawned process.
spawn_request_start_link(Config) ->
    Phc = phc(Config),
    ReqId = erlang:spawn_request(Phc, phc_counter, start_link, [0],
                                 [monitor, {reply, yes}]),
    receive
        {spawn_reply, ReqId, ok, Pid} ->
            ?assertEqual(Phc, node(Pid)),
            receive {'DOWN', ReqId, process, Pid, Reason} ->
                    ct:log("spawned process exited: ~p", [Reason]),
                    ?assertEqual(normal, Reason)
            after 5000 -> ct:fail(no_down_from_spawned)
            end;
        {spawn_reply, ReqId, error, Err} ->
            ct:fail({spawn_error, Err})
    after 5000 -> ct:fail(no_spawn_reply)
    end.

%% Node.spawn/4 of an undefined function: the spawned process dies with
%% the same reason a BEAM node gives it.
spawn_undef_like_beam(Config) ->
    Phc = phc(Config),
    {_, Beam} = P = phc_interop:start_peer(undef),
    put_peer(P),
    ?assertEqual(pong, net_adm:ping(Beam)),
    Down = fun(N) ->
                   {Pid, Ref} = spawn_monitor(N, nosuch_mod, nosuch_fun, [1]),
                   receive {'DOWN', Ref, process, Pid, R} -> R
                   after 5000 -> no_down
                   end
           end,
    OnBeam = Down(Beam),
    OnPhc = Down(Phc),
    ct:log("spawn undef DOWN reason~n beam: ~p~n phc:  ~p", [OnBeam, OnPhc]),
    ?assertMatch({undef, [{nosuch_mod, nosuch_fun, [1], _} | _]}, OnBeam),
    ?assertEqual(OnBeam, OnPhc).

%% phc-node -connect NODE: phc dials us (the client side of the handshake).
connect_flag(Config) ->
    ok = net_kernel:monitor_nodes(true),
    Phc = phc_interop:start_phc(Config, phcc,
                                #{ping => false, args => ["-connect", atom_to_list(node())]}),
    Node = maps:get(node, Phc),
    Cfg = [{phc, Phc} | Config],
    try
        receive {nodeup, Node} -> ok
        after 10000 -> ct:fail(no_nodeup_from_connect_flag)
        end,
        ?assert(lists:member(Node, nodes())),
        ?assertEqual(Node, rpc:call(Node, erlang, node, []))
    after
        net_kernel:monitor_nodes(false),
        end_per_testcase(connect_flag, Cfg)
    end.

%% phc-node -hidden: pings fine, but is not in nodes().
hidden_flag(Config) ->
    Phc = phc_interop:start_phc(Config, phch, #{args => ["-hidden"]}),
    Node = maps:get(node, Phc),
    try
        ?assertEqual(pong, net_adm:ping(Node)),
        ?assert(lists:member(Node, nodes(hidden))),
        ?assertNot(lists:member(Node, nodes()))
    after
        end_per_testcase(hidden_flag, [{phc, Phc} | Config])
    end.

cli_help(_Config) ->
    {Status, Out} = run_cli(["--help"]),
    ct:log("phc-node --help -> ~p~n~s", [Status, Out]),
    ?assertEqual(0, Status),
    ?assertNotEqual(nomatch, string:find(Out, "-name")),
    ?assertNotEqual(nomatch, string:find(Out, "-setcookie")).

cli_bad_flag(_Config) ->
    {Status, Out} = run_cli(["-no-such-flag"]),
    ct:log("phc-node -no-such-flag -> ~p~n~s", [Status, Out]),
    ?assertNotEqual(0, Status),
    ?assert(length(string:trim(Out)) > 0).

run_cli(Args) ->
    Port = open_port({spawn_executable, phc_interop:phc_path()},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [D | Acc]);
        {Port, {exit_status, S}} ->
            {S, binary_to_list(iolist_to_binary(lists:reverse(Acc)))}
    after 10000 ->
            ct:fail(cli_did_not_exit)
    end.

%% SIGTERM: exit status 0, nodedown seen, name gone from epmd.
sigterm_graceful(Config) ->
    Phc = phc_interop:start_phc(Config, phct),
    Node = maps:get(node, Phc),
    [Alive, _] = string:split(atom_to_list(Node), "@"),
    ?assertMatch({port, _, _}, erl_epmd:port_please(Alive, "127.0.0.1", 2000)),
    ok = net_kernel:monitor_nodes(true),
    phc_interop:signal_phc(Phc, "TERM"),
    Exit = phc_interop:wait_exit(Phc, 5000),
    ct:log("exit after SIGTERM: ~p~nlog:~n~s", [Exit, phc_interop:phc_log(Phc)]),
    receive {nodedown, Node} -> ok after 5000 -> ct:fail(no_nodedown) end,
    net_kernel:monitor_nodes(false),
    ?assertEqual({exited, 0}, Exit),
    ?assertEqual(noport, erl_epmd:port_please(Alive, "127.0.0.1", 2000)),
    ?assertEqual(none, phc_interop:sanitizer_report(Phc)).
