%% global with phc as the seed node (connect-all): phc starts first, BEAM
%% peers each connect only to phc, and they must learn each other through
%% global as they would with a BEAM node in phc's place (the Known of
%% `resolved`, `new_nodes`), within a second; the names registered on
%% either side before they met must be seen on both. The test node itself
%% never connects to phc, so the peers' partition is phc alone at first.
-module(phc_global_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(phc_interop, [wait_until/2]).

suite() -> [{timetrap, {seconds, 90}}].

all() -> [two_peers_meet, three_peers_meet, names_cross, late_peer_meets_all].

init_per_suite(Config) -> phc_interop:init_suite(Config).

end_per_suite(_Config) -> ok.

init_per_testcase(_TC, Config) ->
    Phc = phc_interop:start_phc(Config, gphc, #{ping => false}),
    [{phc, Phc}, {phc_node, maps:get(node, Phc)} | Config].

end_per_testcase(_TC, Config) ->
    [phc_interop:stop_peer(P) || P <- erase_peers()],
    Phc = ?config(phc, Config),
    Res = phc_interop:stop_phc(Phc),
    ct:log("phc stop: ~p~nphc log:~n~s", [Res, phc_interop:phc_log(Phc)]),
    case phc_interop:sanitizer_report(Phc) of
        {found, _} = Bad -> {fail, {sanitizer_report, Bad}};
        _ -> ok
    end.

%% ---------------------------------------------------------------------

%% A peer that connects to phc only (and is synced with it by global).
peer(Config, Prefix) ->
    Phc = ?config(phc_node, Config),
    {Pid, Node} = P = phc_interop:start_peer(Prefix),
    put(peers, [P | get_peers()]),
    ok = wait_until(fun() -> peer:call(Pid, net_adm, ping, [Phc]) =:= pong end,
                    10000),
    {Pid, Node}.

get_peers() -> case get(peers) of undefined -> []; L -> L end.
erase_peers() -> case erase(peers) of undefined -> []; L -> L end.

nodes_of({Pid, _}) -> lists:sort(peer:call(Pid, erlang, nodes, [])).

%% Milliseconds until Fun() is true (polled every 10 ms), or timeout.
ms_until(Fun, Timeout) ->
    T0 = erlang:monotonic_time(millisecond),
    ms_until(Fun, T0, T0 + Timeout).
ms_until(Fun, T0, Deadline) ->
    case catch Fun() of
        true -> erlang:monotonic_time(millisecond) - T0;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> timeout;
                false -> timer:sleep(10), ms_until(Fun, T0, Deadline)
            end
    end.

sees({_, _} = A, {_, B}) -> lists:member(B, nodes_of(A)).

sync_fast({Pid, Node}) ->
    {T, ok} = peer:call(Pid, timer, tc, [global, sync, []]),
    ct:log("global:sync() on ~s: ~w us", [Node, T]),
    ?assert(T < 1000000).

%% ---------------------------------------------------------------------

two_peers_meet(Config) ->
    Phc = ?config(phc_node, Config),
    B = peer(Config, gb),
    sync_fast(B),
    C = peer(Config, gc),
    Ms = ms_until(fun() -> sees(B, C) andalso sees(C, B) end, 5000),
    ct:log("b and c see each other after ~p ms", [Ms]),
    ?assert(is_integer(Ms) andalso Ms =< 1000),
    sync_fast(B),
    sync_fast(C),
    {_, BN} = B,
    {_, CN} = C,
    ?assertEqual(lists:sort([BN, Phc]), nodes_of(C) -- [node()]),
    ?assertEqual(lists:sort([CN, Phc]), nodes_of(B) -- [node()]),
    %% global's view on each side: everyone known
    ?assertEqual(lists:sort([CN, Phc]),
                 lists:sort(peer:call(element(1, B), gen_server, call,
                                      [global_name_server, get_known]))).

three_peers_meet(Config) ->
    B = peer(Config, gb),
    C = peer(Config, gc),
    D = peer(Config, gd),
    All = [B, C, D],
    Ms = ms_until(fun() -> lists:all(fun(X) -> lists:all(fun(Y) -> X =:= Y orelse sees(X, Y) end, All) end, All) end, 5000),
    ct:log("b, c, d see each other after ~p ms", [Ms]),
    ?assert(is_integer(Ms) andalso Ms =< 1000),
    [sync_fast(X) || X <- All].

%% A name registered on b before c came, and one on c after: both seen on
%% both sides, and on phc's global (which now holds its partition's names).
names_cross(Config) ->
    Phc = ?config(phc_node, Config),
    {BP, _} = B = peer(Config, gb),
    sync_fast(B),
    PidB = peer:call(BP, erlang, spawn, [timer, sleep, [infinity]]),
    ?assertEqual(yes, peer:call(BP, global, register_name, [from_b, PidB])),
    {CP, _} = C = peer(Config, gc),
    ok = wait_until(fun() -> sees(B, C) andalso sees(C, B) end, 2000),
    sync_fast(C),
    ?assertEqual(PidB, peer:call(CP, global, whereis_name, [from_b])),
    PidC = peer:call(CP, erlang, spawn, [timer, sleep, [infinity]]),
    ?assertEqual(yes, peer:call(CP, global, register_name, [from_c, PidC])),
    ?assertEqual(PidC, peer:call(BP, global, whereis_name, [from_c])),
    %% phc holds the partition's names too
    ?assertEqual(PidC, peer:call(BP, rpc, call, [Phc, global, whereis_name, [from_c]])),
    ?assertEqual(undefined, peer:call(BP, rpc, call, [Phc, global, whereis_name, [nope]])),
    %% a name that dies goes everywhere
    peer:call(BP, erlang, exit, [PidB, kill]),
    ok = wait_until(fun() -> peer:call(CP, global, whereis_name, [from_b]) =:= undefined end, 2000),
    %% phc answers registrations it is part of (multi_call to all known)
    PidC2 = peer:call(CP, erlang, spawn, [timer, sleep, [infinity]]),
    ?assertEqual(yes, peer:call(CP, global, register_name, [from_c2, PidC2])),
    ?assertEqual(lists:sort([from_c, from_c2]),
                 lists:sort(peer:call(BP, global, registered_names, []))),
    ?assert(lists:member(Phc, nodes_of(B))).

%% c and d first meet through phc, then e connects to phc only: it gets
%% to know every node of the partition.
late_peer_meets_all(Config) ->
    B = peer(Config, gb),
    C = peer(Config, gc),
    ok = wait_until(fun() -> sees(B, C) end, 2000),
    sync_fast(B),
    {EP, _} = E = peer(Config, ge),
    Ms = ms_until(fun() -> sees(E, B) andalso sees(E, C) andalso sees(B, E) andalso sees(C, E) end, 5000),
    ct:log("e sees b and c after ~p ms", [Ms]),
    ?assert(is_integer(Ms) andalso Ms =< 1000),
    sync_fast(E),
    ?assertEqual(3, length(peer:call(EP, gen_server, call,
                                     [global_name_server, get_known]))).
