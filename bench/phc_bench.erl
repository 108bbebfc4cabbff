%% The client side of `make bench`: from one BEAM node, measure
%%   1. gen_server:call round trip to a phc_counter on phc-node and to an
%%      equivalent bench_counter on a BEAM node (request {add, 1}); median
%%      of every individually timed call;
%%   2. one-way send throughput: N `Pid ! {add, 1}` sends followed by one
%%      `get` call that proves all of them were handled; median over rounds.
%% Rounds alternate between the two targets so drift hits both alike.
-module(phc_bench).
-export([main/1]).
%% used by scale_bench too
-export([call_samples/2, throughput/2, median/1]).


main([PhcS, BeamS]) ->
    Phc = list_to_atom(PhcS),
    Beam = list_to_atom(BeamS),
    Calls = env("BENCH_CALLS", 5000),
    Sends = env("BENCH_SENDS", 100000),
    Rounds = env("BENCH_ROUNDS", 7),
    pong = net_adm:ping(Phc),
    pong = net_adm:ping(Beam),
    {ok, P} = rpc:call(Phc, phc_counter, start, [0]),
    {ok, B} = rpc:call(Beam, bench_counter, start, [0]),
    io:format("bench: client ~s, phc ~s (~p), beam ~s (~p)~n"
              "bench: ~w rounds; ~w timed calls and ~w sends per round~n",
              [node(), Phc, P, Beam, B, Rounds, Calls, Sends]),
    %% warm up both paths (connections, code loading, caches)
    _ = call_samples(P, 2000), _ = call_samples(B, 2000),
    {PCalls, BCalls} = alternate(Rounds, fun(Pid) -> call_samples(Pid, Calls) end, P, B),
    PRtt = median(lists:append(PCalls)),
    BRtt = median(lists:append(BCalls)),
    {PTp, BTp} = alternate(Rounds, fun(Pid) -> throughput(Pid, Sends) end, P, B),
    PThr = median(PTp),
    BThr = median(BTp),
    io:format("~n"),
    io:format("gen_server:call round trip, median (us):  phc ~8.1f   beam ~8.1f   "
              "ratio phc/beam ~5.2f  (target <= 1.0)~n",
              [PRtt / 1000, BRtt / 1000, PRtt / BRtt]),
    io:format("one-way send throughput, median (msg/s):  phc ~8w   beam ~8w   "
              "ratio phc/beam ~5.2f  (target >= 1.0)~n",
              [round(PThr), round(BThr), PThr / BThr]),
    io:format("~nraw: call p10/p50/p90 us phc ~s beam ~s~n"
              "     throughput per round phc ~w~n"
              "     throughput per round beam ~w~n",
              [pcts(lists:append(PCalls)), pcts(lists:append(BCalls)),
               [round(X) || X <- PTp], [round(X) || X <- BTp]]),
    halt(0).

env(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        V -> list_to_integer(V)
    end.

alternate(Rounds, F, P, B) ->
    lists:unzip([{F(P), F(B)} || _ <- lists:seq(1, Rounds)]).

%% Per-call round-trip times, in ns.
call_samples(Pid, N) ->
    [begin
         T0 = erlang:monotonic_time(nanosecond),
         _ = gen_server:call(Pid, {add, 1}),
         erlang:monotonic_time(nanosecond) - T0
     end || _ <- lists:seq(1, N)].

%% Messages per second for N one-way sends, until the server has handled
%% them all.
throughput(Pid, N) ->
    Before = gen_server:call(Pid, get),
    T0 = erlang:monotonic_time(nanosecond),
    send_n(Pid, N),
    After = gen_server:call(Pid, get, infinity),
    Dt = erlang:monotonic_time(nanosecond) - T0,
    case After - Before of
        N -> ok;
        Other -> io:format("bench: WARNING ~p handled ~w of ~w sends~n", [Pid, Other, N])
    end,
    N / (Dt / 1.0e9).

send_n(_Pid, 0) -> ok;
send_n(Pid, N) -> Pid ! {add, 1}, send_n(Pid, N - 1).

median(L) ->
    S = lists:sort(L),
    lists:nth((length(S) + 1) div 2, S).

pcts(L) ->
    S = list_to_tuple(lists:sort(L)),
    N = tuple_size(S),
    At = fun(P) -> element(max(1, round(P * N)), S) / 1000 end,
    io_lib:format("~.1f/~.1f/~.1f", [At(0.1), At(0.5), At(0.9)]).
