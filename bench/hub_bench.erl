%% hub_bench: ProcessHub StartHandle on phc vs on a BEAM hub member.
%% Run from a hidden client node: hub_bench:run([PhcNode, PhcOsPid, BeamNode,
%% BeamOsPid, N, Rounds]). Each target is alone in its own hub :my_hub. The
%% client casts {start_children, ChildData, [{reply_to, [self()]}]} to
%% {my_hub, Target} - the cast every owner of a child gets - and times it
%% until {collect_start_results, _, Target} comes back; memory is the OS RSS
%% delta of the target per started child, after the children went idle.
-module(hub_bench).
-export([run/1]).

run([PhcS, PhcPidS, BeamS, BeamPidS, NS, RoundsS]) ->
    Phc = list_to_atom(PhcS), Beam = list_to_atom(BeamS),
    N = list_to_integer(NS), Rounds = list_to_integer(RoundsS),
    true = net_kernel:connect_node(Phc), true = net_kernel:connect_node(Beam),
    timer:sleep(1000),
    P = measure(Phc, PhcPidS, N, Rounds),
    B = measure(Beam, BeamPidS, N, Rounds),
    report(N, Rounds, P, B),
    halt(0).

measure(Node, OsPid, N, Rounds) ->
    Rss0 = rss_kb(OsPid),
    Times = [start_round(Node, N, R) || R <- lists:seq(1, Rounds)],
    timer:sleep(2000),
    Rss1 = rss_kb(OsPid),
    #{rates => [N / (T / 1.0e6) || T <- Times],
      bytes_per_child => (Rss1 - Rss0) * 1024 / (N * Rounds)}.

start_round(Node, N, R) ->
    Data = [child_data(Node, R, I) || I <- lists:seq(1, N)],
    Msg = {'$gen_cast', {start_children, Data, [{reply_to, [self()]}]}},
    T0 = erlang:monotonic_time(microsecond),
    {my_hub, Node} ! Msg,
    receive
        {collect_start_results, Res, Node} ->
            T = erlang:monotonic_time(microsecond) - T0,
            N = length([ok || {_, {ok, _}} <- Res]),
            T
    after 120000 -> error({timeout, Node})
    end.

child_data(Node, R, I) ->
    Id = iolist_to_binary(io_lib:format("b~w_~w", [R, I])),
    #{hub_id => my_hub, child_id => Id, nodes => [Node], metadata => #{},
      child_spec => #{id => Id, start => {phc_counter, start_link, [0]}}}.

rss_kb(OsPid) ->
    {ok, B} = file:read_file("/proc/" ++ OsPid ++ "/status"),
    [Line] = [L || L <- binary:split(B, <<"\n">>, [global]),
                   binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kb | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kb).

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).

report(N, Rounds, P, B) ->
    PR = median(maps:get(rates, P)), BR = median(maps:get(rates, B)),
    PM = maps:get(bytes_per_child, P), BM = maps:get(bytes_per_child, B),
    io:format("hub bench: ~w rounds of ~w children (phc_counter) started by one "
              "start_children cast~n", [Rounds, N]),
    io:format("  children started/s (median)  phc ~10.1f   BEAM ~10.1f   ratio ~.2fx~n",
              [PR, BR, PR / BR]),
    io:format("  RSS per idle child (bytes)   phc ~10.1f   BEAM ~10.1f   ratio ~.2fx~n",
              [PM, BM, PM / max(BM, 1)]).
