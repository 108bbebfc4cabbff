%% Failures: kill -9 and SIGSTOP of phc (nodedown, noconnection, within the
%% configured tick), an idle connection kept alive by ticks, kill -9 and
%% SIGSTOP of a BEAM node (phc's monitors fire), a wrong cookie (refused,
%% phc stays up) and a peer sending garbage after a correct handshake
%% (dropped; phc keeps serving its other connections).
%%
%% Every node here runs with net_ticktime 4 (phc_interop:ticktime/0); OTP
%% declares a silent connection dead after between 0.75 and 1.25 ticktimes.
-module(phc_failure_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(phc_interop, [wait_until/2]).

suite() -> [{timetrap, {seconds, 90}}].

all() ->
    [kill9_phc_nodedown, sigstop_phc_nodedown_within_tick,
     idle_connection_kept_by_ticks,
     kill9_beam_node_fires_phc_monitors, sigstop_beam_node_fires_phc_monitors,
     wrong_cookie_refused, raw_client_wrong_cookie_refused,
     garbage_after_handshake_dropped, garbage_before_handshake_dropped].

init_per_suite(Config) ->
    Result = phc_interop:init_suite(Config),
    ?assertEqual(phc_interop:ticktime(), net_kernel:get_net_ticktime()),
    Result.

end_per_suite(_Config) -> ok.

init_per_testcase(_TC, Config) ->
    Phc = phc_interop:start_phc(Config, phcf),
    [{phc, Phc}, {phc_node, maps:get(node, Phc)} | Config].

end_per_testcase(TC, Config) ->
    net_kernel:monitor_nodes(false),
    process_flag(trap_exit, false),
    phc_basic_SUITE:end_per_testcase(TC, Config).

phc(Config) -> ?config(phc_node, Config).

%% Upper bound for tick-based detection, in ms, with 2 s of slack for a
%% loaded 2-core machine.
tick_bound() -> phc_interop:ticktime() * 1250 + 2000.

now_ms() -> erlang:monotonic_time(millisecond).

%% ---------------------------------------------------------------------
%% phc dies or hangs

kill9_phc_nodedown(Config) ->
    Phc = phc(Config),
    P = ?config(phc, Config),
    ok = net_kernel:monitor_nodes(true),
    Pid = phc_interop:counter(Phc),
    Ref = monitor(process, Pid),
    process_flag(trap_exit, true),
    true = link(Pid),
    _ = gen_server:call(Pid, get),
    T0 = now_ms(),
    phc_interop:signal_phc(P, "KILL"),
    receive {nodedown, Phc} -> ok
    after 10000 -> ct:fail(no_nodedown)
    end,
    Dt = now_ms() - T0,
    ct:log("nodedown ~w ms after kill -9", [Dt]),
    ?assert(Dt =< tick_bound()),
    receive {'DOWN', Ref, process, Pid, R1} -> ?assertEqual(noconnection, R1)
    after 2000 -> ct:fail(no_down)
    end,
    receive {'EXIT', Pid, R2} -> ?assertEqual(noconnection, R2)
    after 2000 -> ct:fail(no_exit)
    end,
    ?assertNot(lists:member(Phc, nodes())),
    ?assertMatch({exited, _}, phc_interop:wait_exit(P, 2000)).

%% SIGSTOP keeps the socket open: only ticks can tell the BEAM it is gone.
sigstop_phc_nodedown_within_tick(Config) ->
    Phc = phc(Config),
    P = ?config(phc, Config),
    ok = net_kernel:monitor_nodes(true),
    Pid = phc_interop:counter(Phc),
    Ref = monitor(process, Pid),
    T0 = now_ms(),
    phc_interop:signal_phc(P, "STOP"),
    receive {nodedown, Phc} -> ok
    after 20000 -> ct:fail(no_nodedown_after_sigstop)
    end,
    Dt = now_ms() - T0,
    ct:log("nodedown ~w ms after SIGSTOP (bound ~w ms)", [Dt, tick_bound()]),
    ?assert(Dt =< tick_bound()),
    receive {'DOWN', Ref, process, Pid, R} -> ?assertEqual(noconnection, R)
    after 2000 -> ct:fail(no_down)
    end,
    phc_interop:signal_phc(P, "KILL").

%% No traffic for three ticktimes: phc must tick (and answer ticks), or
%% the BEAM drops it.
idle_connection_kept_by_ticks(Config) ->
    Phc = phc(Config),
    ok = net_kernel:monitor_nodes(true),
    Idle = phc_interop:ticktime() * 3000,
    receive {nodedown, Phc} -> ct:fail(nodedown_while_idle)
    after Idle -> ok
    end,
    ?assert(lists:member(Phc, nodes())),
    ?assertEqual(Phc, rpc:call(Phc, erlang, node, [])).

%% ---------------------------------------------------------------------
%% A BEAM node dies or hangs: phc notices

kill9_beam_node_fires_phc_monitors(Config) ->
    beam_node_goes_away(Config, "KILL").

sigstop_beam_node_fires_phc_monitors(Config) ->
    beam_node_goes_away(Config, "STOP").

beam_node_goes_away(Config, Sig) ->
    Phc = phc(Config),
    {PeerPid, Peer} = phc_interop:start_peer(victim),
    OsPid = phc_interop:peer_os_pid({PeerPid, Peer}),
    try
        ?assertEqual(pong, peer:call(PeerPid, net_adm, ping, [Phc])),
        ok = wait_until(fun() -> lists:member(Peer, rpc:call(Phc, erlang, nodes, [])) end,
                        5000),
        Victim = peer:call(PeerPid, erlang, spawn, [timer, sleep, [infinity]]),
        ?assertEqual(Peer, node(Victim)),
        Pid = phc_interop:counter(Phc),
        _ = gen_server:call(Pid, {monitor, Victim}),
        ?assertEqual(none, gen_server:call(Pid, last_down)),
        T0 = now_ms(),
        phc_interop:os_signal(OsPid, Sig),
        Bound = case Sig of "KILL" -> 5000; _ -> tick_bound() + 1000 end,
        Res = wait_until(fun() -> gen_server:call(Pid, last_down) =:= noconnection end,
                         Bound + 5000),
        Dt = now_ms() - T0,
        ct:log("phc child saw DOWN noconnection ~w ms after SIG~s: ~p (last_down ~p)",
               [Dt, Sig, Res, catch gen_server:call(Pid, last_down)]),
        ?assertEqual(ok, Res),
        ?assert(Dt =< Bound),
        ?assertNot(lists:member(Peer, rpc:call(Phc, erlang, nodes, []))),
        %% phc still serves us
        ?assertEqual(1, gen_server:call(Pid, {add, 1}))
    after
        phc_interop:os_signal(OsPid, "KILL"),
        phc_interop:stop_peer({PeerPid, Peer})
    end.

%% ---------------------------------------------------------------------
%% Cookies and garbage

wrong_cookie_refused(Config) ->
    Phc = phc(Config),
    P = ?config(phc, Config),
    {PeerPid, _} = Peer = phc_interop:start_peer(badcookie, #{cookie => 'not_the_cookie'}),
    try
        ?assertEqual(pang, peer:call(PeerPid, net_adm, ping, [Phc])),
        ?assertNot(lists:member(Phc, peer:call(PeerPid, erlang, nodes, [hidden]))),
        ?assertEqual([], peer:call(PeerPid, erlang, nodes, [connected]) -- [node()]),
        %% phc is still up and still serving the right-cookie node
        ?assert(phc_interop:phc_alive(P)),
        ?assertEqual(pong, net_adm:ping(Phc)),
        ?assertEqual(Phc, rpc:call(Phc, erlang, node, [])),
        ct:log("phc log:~n~s", [phc_interop:phc_log(P)])
    after
        phc_interop:stop_peer(Peer)
    end.

raw_client_wrong_cookie_refused(Config) ->
    Phc = phc(Config),
    Res = phc_raw_dist:connect(Phc, phc_interop:unique_name(rawbad), wrong_cookie),
    ct:log("raw connect with a wrong cookie: ~p", [Res]),
    ?assertMatch({error, {challenge_ack, _}}, Res),
    ?assertEqual(pong, net_adm:ping(Phc)).

garbage_after_handshake_dropped(Config) ->
    Phc = phc(Config),
    ok = net_kernel:monitor_nodes(true),
    %% a second BEAM node, connected to phc before the garbage
    {PeerPid, Peer} = PeerRef = phc_interop:start_peer(bystander),
    try
        ?assertEqual(pong, peer:call(PeerPid, net_adm, ping, [Phc])),
        Pid = phc_interop:counter(Phc),
        {ok, Conn} = phc_raw_dist:connect(Phc, phc_interop:unique_name(garbage),
                                          phc_interop:cookie()),
        ct:log("raw handshake done: ~p", [Conn]),
        %% a frame that is not a distribution message at all
        ok = phc_raw_dist:send_frame(Conn, <<"this is not a dist message", 0, 1, 2, 255>>),
        ?assertEqual(closed, phc_raw_dist:await_closed(Conn, 5000)),
        %% a second raw connection sends a frame with a bad pass-through
        %% header and a truncated term
        {ok, Conn2} = phc_raw_dist:connect(Phc, phc_interop:unique_name(garbage2),
                                           phc_interop:cookie()),
        ok = phc_raw_dist:send_frame(Conn2, <<112, 131, 104, 4, 97, 2, 100, 0>>),
        ?assertEqual(closed, phc_raw_dist:await_closed(Conn2, 5000)),
        %% everybody else is unaffected
        receive {nodedown, Phc} -> ct:fail(phc_dropped_us) after 0 -> ok end,
        ?assertEqual(pong, net_adm:ping(Phc)),
        ?assertEqual(1, gen_server:call(Pid, {add, 1})),
        ?assertEqual(pong, peer:call(PeerPid, net_adm, ping, [Phc])),
        ?assertEqual(2, peer:call(PeerPid, gen_server, call, [Pid, {add, 1}])),
        ?assert(lists:member(Peer, rpc:call(Phc, erlang, nodes, []))),
        %% and a fresh node can still connect
        {Peer2Pid, _} = Peer2 = phc_interop:start_peer(latecomer),
        ?assertEqual(pong, peer:call(Peer2Pid, net_adm, ping, [Phc])),
        phc_interop:stop_peer(Peer2)
    after
        phc_interop:stop_peer(PeerRef)
    end.

%% Garbage instead of a handshake: dropped, node unaffected.
garbage_before_handshake_dropped(Config) ->
    Phc = phc(Config),
    [Alive, _] = string:split(atom_to_list(Phc), "@"),
    {port, Port, _} = erl_epmd:port_please(Alive, "127.0.0.1", 2000),
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    ok = gen_tcp:send(S, <<0, 5, "hello", 255, 255, 1, 2, 3>>),
    ?assertEqual({error, closed}, recv_until_closed(S, 5000)),
    {ok, S2} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    ok = gen_tcp:send(S2, <<0, 200, $N>>),   %% truncated send_name, then close
    gen_tcp:close(S2),
    ?assertEqual(pong, net_adm:ping(Phc)),
    ?assertEqual(Phc, rpc:call(Phc, erlang, node, [])).

recv_until_closed(S, Timeout) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, _} -> recv_until_closed(S, Timeout);
        Err -> Err
    end.
