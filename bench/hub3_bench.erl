%% The client side of bench/hub3_run: a 3-node hub (BEAM members A and B
%% plus X, phc-node or a third BEAM member) holding N children started from
%% A with ProcessHub.start_children (awaited, in batches). One round:
%%   start  start N children from A while X is a member: the time to start
%%          them all, how many X hosts, and X's RSS growth per hosted child
%%          (registry rows for the whole hub included, as on a BEAM member);
%%   leave  SIGTERM to X (phc leaves its hub first; a BEAM X runs
%%          PhcHarness.stop_hub from a SIGTERM trap, then init:stop): the
%%          time until A and B have converged;
%%   join   a fresh X (name X ++ "j") is started by the shell's STARTX
%%          script: the time from its start until A, B and X have converged
%%          (and until X is in ProcessHub.nodes on A);
%%   kill   SIGKILL to that X: the time until A and B have converged.
%% Converged: every remaining member's ProcessHub.process_list(hub, :global)
%% has all N children, each on exactly the node its BEAM members' stored
%% hash ring (ProcessHub's own, read on A) gives, the rings hold exactly the
%% remaining members, and the members' lists agree (same id, node, pid). A
%% BEAM member digests its own list (this module is loaded there); phc's
%% list is fetched and digested here. Polled every ?POLL ms, or after a
%% pause as long as the last probe took if that is longer.
%% run([A, B, X, XOsPid, N, Kind, StartX, PidFile]) prints "ROW key value".
-module(hub3_bench).
-export([run/1, probe/0, expected/1]).

-define(HUB, my_hub).
-define(POLL, 100).
-define(BATCH, 5000).

run([AS, BS, XS, XPid, NS, KindS, StartX, PidFile]) ->
    [A, B, X] = [list_to_atom(S) || S <- [AS, BS, XS]],
    N = list_to_integer(NS),
    Kind = list_to_atom(KindS),
    [pong = net_adm:ping(Nd) || Nd <- [A, B, X]],
    ok = wait(fun() -> length(erpc:call(A, 'Elixir.ProcessHub', nodes,
                                        [?HUB, [include_local]])) =:= 3 end, 30000),
    load_on([A, B] ++ [X || Kind =:= beam]),
    timer:sleep(2000),
    put(ctx, #{n => N, kind => Kind, a => A}),
    put(cpu_pids, [{a, erpc:call(A, os, getpid, [])}, {b, erpc:call(B, os, getpid, [])}, {x, XPid}]),
    start_phase(A, B, X, XPid, N),
    leave_phase(A, B, X, XPid),
    [XName, XHost] = string:split(XS, "@"),
    {X2, X2Pid} = join_phase(A, B, XName ++ "j@" ++ XHost, Kind, StartX, PidFile),
    kill_phase(A, B, X2, X2Pid),
    halt(0).

start_phase(A, B, X, XPid, N) ->
    Rss0 = rss_kb(XPid),
    T0 = now_us(),
    start_batches(A, N, 1),
    row(start_ms, ms_since(T0)),
    converge(start_converged, [A, B, X], T0),
    Hosted = hosted(A, X),
    Rss1 = rss_kb(XPid),
    row(hosted, Hosted),
    row(bytes_per_hosted, (Rss1 - Rss0) * 1024 / max(Hosted, 1)).

%% ProcessHub's start_children/3 runs its init_children_start in the
%% coordinator under GenServer.call's default 5 s timeout, and that init is
%% quadratic: every spec's nodes are looked up in a list (Bag.get_by_key),
%% and check_existing (default true) tests every registered child's id for
%% membership in the list of new ids. One call of 50 000 specs, or a batch
%% of 5 000 into a registry of 45 000, overruns 5 s here; batches of 5 000
%% with check_existing off (the ids are fresh) stay well under it.
start_batches(_A, N, First) when First > N -> ok;
start_batches(A, N, First) ->
    Count = min(?BATCH, N - First + 1),
    Res = erpc:call(A, 'Elixir.PhcHarness', start_children,
                    [phc_counter, Count, [{timeout, 600000}, {await_timeout, 600000},
                                          {check_existing, false},
                                          {prefix, "h3"}, {first, First}]], infinity),
    case Res of
        {error, _} -> io:format("hub3 bench: start failed: ~P~n", [Res, 12]), halt(1);
        _ -> start_batches(A, N, First + Count)
    end.

leave_phase(A, B, X, XPid) ->
    T0 = now_us(),
    os:cmd("kill -TERM " ++ XPid),
    watch_gone(leave_seen_ms, A, X, T0),
    converge(leave, [A, B], T0),
    gone(X, XPid).

join_phase(A, B, XS, Kind, StartX, PidFile) ->
    X = list_to_atom(XS),
    T0 = now_us(),
    Pid0 = string:trim(os:cmd(StartX ++ " " ++ XS)),
    ok = file:write_file(PidFile, Pid0 ++ "\n", [append]),
    ok = wait(fun() -> net_adm:ping(X) =:= pong end, 60000),
    XPid = case Kind of
               beam -> erpc:call(X, os, getpid, []);
               phc -> Pid0
           end,
    XPid =:= Pid0 orelse file:write_file(PidFile, XPid ++ "\n", [append]),
    Kind =:= beam andalso load_on([X]),
    put(cpu_pids, lists:keystore(x, 1, get(cpu_pids), {x, XPid})),
    ok = wait(fun() -> lists:member(X, erpc:call(A, 'Elixir.ProcessHub', nodes,
                                                 [?HUB, [include_local]])) end, 60000),
    row(join_seen_ms, ms_since(T0)),
    Seen = now_us(),
    case converge(join, [A, B, X], T0) of
        ok -> row(join_after_seen_ms, ms_since(Seen));
        _ -> ok
    end,
    {X, XPid}.

kill_phase(A, B, X, XPid) ->
    T0 = now_us(),
    os:cmd("kill -KILL " ++ XPid),
    watch_gone(kill_seen_ms, A, X, T0),
    converge(kill, [A, B], T0),
    gone(X, XPid).

%% In the background: "ROW Key" when X is no longer in ProcessHub.nodes on A.
watch_gone(Key, A, X, T0) ->
    spawn_link(fun() ->
                       ok = wait(fun() -> not lists:member(X, erpc:call(A, 'Elixir.ProcessHub', nodes,
                                                                      [?HUB, [include_local]])) end,
                                 60000, 20),
                       row(Key, ms_since(T0))
               end).

%% Waits for X's OS process to be gone or a zombie (SIGKILL after 30 s).
gone(X, XPid) ->
    case wait(fun() -> dead(XPid) end, 30000) of
        ok -> ok;
        timeout -> io:format("hub3 bench: ~s still up after 30 s, killed~n", [X]),
                   os:cmd("kill -KILL " ++ XPid)
    end.

dead(OsPid) ->
    case file:read_file("/proc/" ++ OsPid ++ "/stat") of
        {ok, B} ->
            [_, After] = string:split(B, ")", trailing),
            binary:first(string:trim(After, leading)) =:= $Z;
        _ -> true
    end.

%% Polls until Members have converged; prints "ROW <Key>_ms" from T0.
%% HUB3_CONVERGE_S (300) bounds the wait.
converge(Key, Members, T0) ->
    Cpu0 = cpu_ms(),
    try converge1(Key, Members, T0)
    after
        [row(list_to_atom(lists:concat([Key, "_cpu_", Who, "_ms"])), Ms)
         || {Who, Ms} <- cpu_diff(Cpu0, cpu_ms())]
    end.

%% CPU time (user + system) each of A, B and X has used so far, in ms.
cpu_ms() ->
    [{Who, cpu_ms(P)} || {Who, P} <- get(cpu_pids)].

cpu_ms(OsPid) ->
    case file:read_file("/proc/" ++ OsPid ++ "/stat") of
        {ok, B} ->
            [_, After] = string:split(B, ")", trailing),
            F = string:lexemes(After, " "),
            (binary_to_integer(lists:nth(12, F)) + binary_to_integer(lists:nth(13, F))) * 10;
        _ -> undefined
    end.

cpu_diff(C0, C1) ->
    [{Who, T1 - T0} || {{Who, T0}, {Who, T1}} <- lists:zip(C0, C1), is_integer(T0), is_integer(T1)].

converge1(Key, Members, T0) ->
    Want = lists:sort(Members),
    Max = list_to_integer(os:getenv("HUB3_CONVERGE_S", "300")),
    case converge_loop(Members, Want, T0 + Max * 1000000, undefined) of
        ok -> row(list_to_atom(atom_to_list(Key) ++ "_ms"), ms_since(T0)), ok;
        {timeout, Last} ->
            io:format("hub3 bench: ~s did not converge in ~b s: ~P~n", [Key, Max, Last, 20]),
            row(list_to_atom(atom_to_list(Key) ++ "_not_converged"), 1),
            timeout
    end.

converge_loop(Members, Want, Deadline, Last) ->
    case now_us() > Deadline of
        true -> {timeout, Last};
        false ->
            T = now_us(),
            case catch check(Members, Want) of
                ok -> ok;
                Other ->
                    %% gentle on the members: at least as long as the probe took
                    timer:sleep(max(?POLL, (now_us() - T) div 1000)),
                    converge_loop(Members, Want, Deadline, Other)
            end
    end.

check(Members, Want) ->
    #{n := N, kind := Kind, a := A} = get(ctx),
    Probes = [{M, probe_of(M, Kind)} || M <- Members],
    Counts = [C || {_, {C, _, _, _}} <- Probes],
    Rings = lists:usort([R || {_, {_, _, _, R}} <- Probes, R =/= phc]),
    Fulls = lists:usort([F || {_, {_, _, F, _}} <- Probes]),
    Places = lists:usort([P || {_, {_, P, _, _}} <- Probes]),
    AllN = [N || _ <- Members],
    if
        Counts =/= AllN -> {counts, Counts};
        Rings =/= [Want] -> {rings, Rings};
        length(Fulls) =/= 1 -> {lists_differ, Probes};
        true ->
            case Places =:= [expected_on(A, Want)] of
                true -> ok;
                false -> {misplaced, Places}
            end
    end.

probe_of(M, beam) -> erpc:call(M, ?MODULE, probe, [], 60000);
probe_of(M, phc) ->
    case lists:prefix("h3x_", atom_to_list(M)) of
        true ->
            L = erpc:call(M, 'Elixir.ProcessHub', process_list, [?HUB, global], 60000),
            {C, P, F} = digest(L),
            {C, P, F, phc};
        false -> probe_of(M, beam)
    end.

%% On a BEAM member: {Count, PlacementDigest, FullDigest, RingNodes}.
probe() ->
    {C, P, F} = digest('Elixir.ProcessHub':process_list(?HUB, global)),
    {C, P, F, lists:sort('Elixir.ProcessHub.Service.Ring':nodes(ring()))}.

%% Order-independent digests of a process list: of {id, nodes} rows and of
%% the rows as they are (ids, nodes and pids).
digest(L) ->
    lists:foldl(fun({Id, NodePids}, {C, P, F}) ->
                        Nodes = [Nd || {Nd, _} <- NodePids],
                        {C + 1, P + erlang:phash2({Id, Nodes}), F + erlang:phash2({Id, NodePids})}
                end, {0, 0, 0}, L).

%% The placement digest of children "h3_1".."h3_N" on A's stored ring
%% (cached per node set: a ring is a function of its nodes).
expected_on(A, Want) ->
    #{n := N} = get(ctx),
    case get({expected, Want}) of
        undefined ->
            {Nodes, D} = erpc:call(A, ?MODULE, expected, [N], 120000),
            Nodes =:= Want orelse throw({ring_moved, Nodes}),
            put({expected, Want}, D),
            D;
        D -> D
    end.

expected(N) ->
    R = ring(),
    D = lists:foldl(fun(I, Acc) ->
                            Id = <<"h3_", (integer_to_binary(I))/binary>>,
                            Owner = 'Elixir.ProcessHub.Service.Ring':key_to_node(R, Id, 1),
                            Acc + erlang:phash2({Id, [Owner]})
                    end, 0, lists:seq(1, N)),
    {lists:sort('Elixir.ProcessHub.Service.Ring':nodes(R)), D}.

%% The hub's stored ring (ConsistentHashing keeps it in the misc table).
ring() ->
    Misc = case persistent_term:get({?MODULE, misc}, undefined) of
               undefined ->
                   #{storage := #{misc := T}} = 'Elixir.ProcessHub.Coordinator':get_hub(?HUB),
                   persistent_term:put({?MODULE, misc}, T),
                   T;
               T -> T
           end,
    'Elixir.ProcessHub.Service.Storage':get(Misc, 'Elixir.ProcessHub.Constant.StorageKey':hr()).

load_on(Nodes) ->
    {Mod, Bin, File} = code:get_object_code(?MODULE),
    [{module, Mod} = erpc:call(Nd, code, load_binary, [Mod, File, Bin]) || Nd <- Nodes],
    ok.

hosted(A, X) ->
    L = erpc:call(A, 'Elixir.ProcessHub', process_list, [?HUB, global], 60000),
    length([1 || {_, Owners} <- L, lists:keymember(X, 1, Owners)]).

wait(F, T) -> wait(F, T, 200).

wait(F, T, _Step) when T =< 0 -> case catch F() of true -> ok; _ -> timeout end;
wait(F, T, Step) ->
    case catch F() of
        true -> ok;
        _ -> timer:sleep(Step), wait(F, T - Step, Step)
    end.

now_us() -> erlang:monotonic_time(microsecond).
ms_since(T0) -> (now_us() - T0) / 1000.

row(K, V) -> io:format("ROW ~s ~.1f~n", [K, float(V)]).

rss_kb(OsPid) ->
    {ok, B} = file:read_file("/proc/" ++ OsPid ++ "/status"),
    {match, [Kb]} = re:run(B, "VmRSS:\\s+(\\d+)", [{capture, all_but_first, list}]),
    list_to_integer(Kb).
