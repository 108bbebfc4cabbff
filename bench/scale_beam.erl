%% The BEAM side of bench/scale_run: start_counters(N) starts N
%% bench_counters under one Elixir DynamicSupervisor in one loop on the
%% node and returns {ok, Started, Micros, LastPid}, the same work as
%% phc_scale_bench:start_counters/1 on phc (a one_for_one supervisor).
-module(scale_beam).
-export([start_counters/1]).

start_counters(N) ->
    Sup = supervisor(),
    Spec = #{id => bench_counter, start => {bench_counter, start_link, [0]}},
    T0 = erlang:monotonic_time(microsecond),
    {Ok, Last} = loop(Sup, Spec, N, 0, none),
    {ok, Ok, erlang:monotonic_time(microsecond) - T0, Last}.

loop(_Sup, _Spec, 0, Ok, Last) -> {Ok, Last};
loop(Sup, Spec, K, Ok, Last) ->
    case 'Elixir.DynamicSupervisor':start_child(Sup, Spec) of
        {ok, P} -> loop(Sup, Spec, K - 1, Ok + 1, P);
        _ -> {Ok, Last}
    end.

%% One supervisor per node, registered, outliving the erpc call.
supervisor() ->
    case whereis(scale_beam_sup) of
        undefined ->
            {ok, S} = 'Elixir.DynamicSupervisor':start_link(
                        [{strategy, one_for_one}, {name, scale_beam_sup}]),
            unlink(S),
            S;
        S -> S
    end.
