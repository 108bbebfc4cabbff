%% The client side of bench/scale_run: one round at one size on a fresh
%% phc-node and a fresh BEAM node. run([Phc, PhcOsPid, Beam, BeamOsPid, N,
%% Calls]) starts N counters on each (phc_scale_bench:start_counters/1,
%% scale_beam:start_counters/1: one supervisor, one loop on the node), reads
%% both RSS deltas, and with Calls > 0 times gen_server:call round trips
%% and one-way send throughput to one more counter on each while the N
%% others are hosted. Prints one line per figure: "ROW key value".
-module(scale_bench).
-export([run/1, heap/1, hub/1]).

run([PhcS, PhcPid, BeamS, BeamPid, NS, CallsS]) ->
    Phc = list_to_atom(PhcS), Beam = list_to_atom(BeamS),
    N = list_to_integer(NS), Calls = list_to_integer(CallsS),
    pong = net_adm:ping(Phc), pong = net_adm:ping(Beam),
    timer:sleep(500),
    {PRate, PBytes} = start(Phc, PhcPid, phc_scale_bench, N),
    {BRate, BBytes} = start(Beam, BeamPid, scale_beam, N),
    row(rate_phc, PRate), row(rate_beam, BRate),
    row(bytes_phc, PBytes), row(bytes_beam, BBytes),
    Calls > 0 andalso calls(Phc, Beam, Calls),
    halt(0).

start(Node, OsPid, Mod, N) ->
    Rss0 = rss_kb(OsPid),
    {ok, N, Us, _Last} = erpc:call(Node, Mod, start_counters, [N], infinity),
    timer:sleep(1500),
    Rss1 = rss_kb(OsPid),
    {N / (Us / 1.0e6), (Rss1 - Rss0) * 1024 / N}.

calls(Phc, Beam, Calls) ->
    {ok, P} = rpc:call(Phc, phc_counter, start, [0]),
    {ok, B} = rpc:call(Beam, bench_counter, start, [0]),
    _ = phc_bench:call_samples(P, 1000), _ = phc_bench:call_samples(B, 1000),
    row(call_us_phc, phc_bench:median(phc_bench:call_samples(P, Calls)) / 1000),
    row(call_us_beam, phc_bench:median(phc_bench:call_samples(B, Calls)) / 1000),
    row(send_phc, phc_bench:throughput(P, 100000)),
    row(send_beam, phc_bench:throughput(B, 100000)).

%% heap([Phc, N]): heap bytes per child of each kind (scale_plugin.c).
heap([PhcS, NS]) ->
    Phc = list_to_atom(PhcS), N = list_to_integer(NS),
    pong = net_adm:ping(Phc),
    [row(list_to_atom("heap_" ++ atom_to_list(K)),
         erpc:call(Phc, phc_scale_bench, heap, [K, N], infinity))
     || K <- [bare, gen_server, supervised]],
    halt(0).

row(K, V) -> io:format("ROW ~s ~.1f~n", [K, float(V)]).

rss_kb(OsPid) ->
    {ok, B} = file:read_file("/proc/" ++ OsPid ++ "/status"),
    {match, [Kb]} = re:run(B, "VmRSS:\\s+(\\d+)", [{capture, all_but_first, list}]),
    list_to_integer(Kb).

%% hub([Phc, PhcOsPid, N]): phc alone in hub my_hub takes N phc_counters
%% from start_children casts (50,000 per cast, as a hub peer sends them),
%% then: start rate, RSS per child, a sample of them answering
%% gen_server:call, and the time of ProcessHub.process_list(my_hub, global)
%% and registry_dump/1 over erpc at that size.
hub([PhcS, PhcPid, NS]) ->
    Phc = list_to_atom(PhcS), N = list_to_integer(NS),
    pong = net_adm:ping(Phc),
    timer:sleep(1000),
    Rss0 = rss_kb(PhcPid),
    T0 = erlang:monotonic_time(microsecond),
    Pids = hub_start(Phc, 1, N, []),
    Us = erlang:monotonic_time(microsecond) - T0,
    N = length(Pids),
    timer:sleep(2000),
    Rss1 = rss_kb(PhcPid),
    Sample = [lists:nth(I, Pids) || I <- lists:seq(1, N, max(1, N div 1000))],
    [0 = gen_server:call(P, get) || P <- Sample],
    {LUs, L} = timer:tc(fun() -> erpc:call(Phc, 'Elixir.ProcessHub', process_list,
                                           [my_hub, global], infinity) end),
    N = length(L),
    {DUs, D} = timer:tc(fun() -> erpc:call(Phc, 'Elixir.ProcessHub', registry_dump,
                                           [my_hub], infinity) end),
    N = map_size(D),
    row(hub_rate, N / (Us / 1.0e6)), row(hub_bytes, (Rss1 - Rss0) * 1024 / N),
    row(hub_calls_ok, length(Sample)),
    row(hub_process_list_ms, LUs / 1000), row(hub_registry_dump_ms, DUs / 1000),
    halt(0).

hub_start(_Phc, From, To, Acc) when From > To -> lists:append(lists:reverse(Acc));
hub_start(Phc, From, To, Acc) ->
    Last = min(To, From + 49999),
    Data = [#{hub_id => my_hub, child_id => integer_to_binary(I), nodes => [Phc],
              metadata => #{},
              child_spec => #{id => integer_to_binary(I),
                              start => {phc_counter, start_link, [0]}}}
            || I <- lists:seq(From, Last)],
    {my_hub, Phc} ! {'$gen_cast', {start_children, Data, [{reply_to, [self()]}]}},
    receive
        {collect_start_results, Res, Phc} ->
            Pids = [P || {_, {ok, P}} <- Res],
            hub_start(Phc, Last + 1, To, [Pids | Acc])
    after 600000 -> error(hub_start_timeout)
    end.
