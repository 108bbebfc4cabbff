%% The client side of bench/hub3_run: a 3-node hub (BEAM members A and B
%% plus X, phc-node or a third BEAM member) holding N children started from
%% A with ProcessHub.start_children (awaited). run([A, B, X, XOsPid, N])
%% prints the time to start them all, how many X hosts, and X's RSS growth
%% per hosted child (registry rows for the whole hub included, as on a BEAM
%% member): "ROW key value".
-module(hub3_bench).
-export([run/1]).

run([AS, BS, XS, XPid, NS]) ->
    [A, B, X] = [list_to_atom(S) || S <- [AS, BS, XS]],
    N = list_to_integer(NS),
    [pong = net_adm:ping(Nd) || Nd <- [A, B, X]],
    ok = wait(fun() -> length(erpc:call(A, 'Elixir.ProcessHub', nodes,
                                        [my_hub, [include_local]])) =:= 3 end, 30000),
    timer:sleep(2000),
    Rss0 = rss_kb(XPid),
    T0 = erlang:monotonic_time(microsecond),
    Res = erpc:call(A, 'Elixir.PhcHarness', start_children,
                    [phc_counter, N, [{timeout, 600000}, {prefix, "h3"}]], infinity),
    Us = erlang:monotonic_time(microsecond) - T0,
    case Res of
        {error, _} -> io:format("hub3 bench: start failed: ~P~n", [Res, 12]), halt(1);
        _ -> ok
    end,
    ok = wait(fun() -> hosted(A, X) > 0 end, 30000),
    timer:sleep(3000),
    Hosted = hosted(A, X),
    Rss1 = rss_kb(XPid),
    row(start_ms, Us / 1000),
    row(hosted, Hosted),
    row(bytes_per_hosted, (Rss1 - Rss0) * 1024 / max(Hosted, 1)),
    halt(0).

hosted(A, X) ->
    L = erpc:call(A, 'Elixir.ProcessHub', process_list, [my_hub, global], 60000),
    length([1 || {_, Owners} <- L, lists:keymember(X, 1, Owners)]).

wait(F, T) when T =< 0 -> case F() of true -> ok; _ -> timeout end;
wait(F, T) ->
    case catch F() of
        true -> ok;
        _ -> timer:sleep(200), wait(F, T - 200)
    end.

row(K, V) -> io:format("ROW ~s ~.1f~n", [K, float(V)]).

rss_kb(OsPid) ->
    {ok, B} = file:read_file("/proc/" ++ OsPid ++ "/status"),
    {match, [Kb]} = re:run(B, "VmRSS:\\s+(\\d+)", [{capture, all_but_first, list}]),
    list_to_integer(Kb).
