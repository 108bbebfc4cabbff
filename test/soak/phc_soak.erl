%% The soak test (make soak): one BEAM client, SOAK_CALLS gen_server:calls
%% and SOAK_SENDS plain sends to phc children, paced over SOAK_SECONDS,
%% while a killer process kills a crashing child every SOAK_KILL_MS (its
%% hub supervisor restarts it).
%%
%% Children, on a one-member hub of phc-node (started with
%% ProcessHub.start_children over erpc, phc's native): 16 stable counters
%% (never killed) take every send ({add, 1}) and half the calls (get); 16
%% crashing counters take the other half of the calls. Results:
%%   - lost replies: calls that got neither a reply nor an exit within 5 s
%%     (must be 0); calls to a child killed under them exit (noproc,
%%     killed) and are counted apart, then the child's new pid is looked up;
%%   - lost sends: each stable counter's final value against the sends it
%%     was given (must be 0, and the stable pids must not change);
%%   - RSS of phc-node (/proc) once warm (at 10% of the run), at the last
%%     sample under load and at the end (idle, 2 s later): its growth
%%     from warm must stay within 5%.
%% It runs as a hidden node; test/soak/run sets the environment.
-module(phc_soak).
-export([main/0]).

-define(HUB, soak).
-define(COOKIE, "soak").
-define(STABLE, 16).
-define(CRASHY, 16).
-define(CALL_WORKERS, 16).
-define(SEND_WORKERS, 4).

main() ->
    process_flag(trap_exit, true),
    Res = try run()
          catch C:E:S ->
                  io:format("soak: aborted: ~p:~p~n~p~n", [C, E, S]),
                  error
          end,
    halt(case Res of ok -> 0; _ -> 1 end).

env(K, D) -> case os:getenv(K) of false -> D; "" -> D; V -> V end.
ienv(K, D) -> list_to_integer(env(K, integer_to_list(D))).

phc_node() -> 'soak_phc@127.0.0.1'.

start_phc() ->
    Phc = env("PHC_NODE", "build/phc-node"),
    Log = filename:join(env("SOAK_DIR", "."), "phc.log"),
    Cmd = lists:flatten(io_lib:format("exec ~s -name ~s -setcookie ~s -hub ~s >>~s 2>&1",
                                      [Phc, phc_node(), ?COOKIE, ?HUB, Log])),
    Port = open_port({spawn_executable, "/bin/sh"}, [{args, ["-c", Cmd]}, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    ok = wait(fun() -> net_adm:ping(phc_node()) =:= pong end, 20000),
    {Port, OsPid}.

wait(F, T) when T =< 0 -> case F() of true -> ok; false -> timeout end;
wait(F, T) ->
    case F() of
        true -> ok;
        false -> timer:sleep(100), wait(F, T - 100)
    end.

ids(Prefix, K) -> [iolist_to_binary([Prefix, integer_to_list(I)]) || I <- lists:seq(1, K)].

pid_of(Id) ->
    case erpc:call(phc_node(), 'Elixir.ProcessHub', get_pid, [?HUB, Id], 5000) of
        P when is_pid(P) -> P;
        _ -> undefined
    end.

rss_kb(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status") of
        {ok, B} ->
            [L] = [L || L <- binary:split(B, <<"\n">>, [global]),
                        binary:match(L, <<"VmRSS:">>) =/= nomatch],
            [_, V | _] = binary:split(L, [<<" ">>, <<"\t">>], [global, trim_all]),
            binary_to_integer(V);
        _ -> 0
    end.

run() ->
    Calls = ienv("SOAK_CALLS", 1000000),
    Sends = ienv("SOAK_SENDS", 1000000),
    Secs = ienv("SOAK_SECONDS", 60),
    KillMs = ienv("SOAK_KILL_MS", 100),
    {Port, OsPid} = start_phc(),
    Stable = ids("stable_", ?STABLE),
    Crashy = ids("crashy_", ?CRASHY),
    Specs = [#{id => Id, start => {phc_counter, start_link, [0]}} || Id <- Stable ++ Crashy],
    erpc:call(phc_node(), 'Elixir.ProcessHub', start_children, [?HUB, Specs, []], 5000),
    ok = wait(fun() -> lists:all(fun(Id) -> is_pid(pid_of(Id)) end, Stable ++ Crashy) end,
              10000),
    T = ets:new(soak_pids, [public, set, {read_concurrency, true}]),
    [ets:insert(T, {Id, pid_of(Id)}) || Id <- Stable ++ Crashy],
    StablePids0 = [ets:lookup_element(T, Id, 2) || Id <- Stable],
    Rss0 = rss_kb(OsPid),
    Self = self(),
    T0 = erlang:monotonic_time(millisecond),
    Ms = Secs * 1000,
    CallsEach = Calls div ?CALL_WORKERS,
    SendsEach = Sends div ?SEND_WORKERS,
    CW = [spawn_link(fun() -> Self ! {calls, call_worker(I, CallsEach, Ms, T0, T,
                                                         Stable, Crashy)} end)
          || I <- lists:seq(1, ?CALL_WORKERS)],
    SW = [spawn_link(fun() -> Self ! {sends, send_worker(I, SendsEach, Ms, T0, T, Stable)} end)
          || I <- lists:seq(1, ?SEND_WORKERS)],
    Killer = spawn_link(fun() -> killer(T, Crashy, KillMs, 0) end),
    Sampler = spawn_link(fun() -> sampler(OsPid, T0, Ms, []) end),
    CallRes = [receive {calls, R} -> R end || _ <- CW],
    SendRes = [receive {sends, R} -> R end || _ <- SW],
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    Killer ! {stop, Self},
    Kills = receive {kills, K} -> K end,
    Sampler ! {stop, Self},
    Samples = receive {samples, S} -> lists:reverse(S) end,
    timer:sleep(2000), %% let the last restarts and messages drain
    %% sends: each stable counter holds exactly what it was sent
    Sent = lists:foldl(fun(M, Acc) -> maps:merge_with(fun(_, A, B) -> A + B end, M, Acc) end,
                       #{}, SendRes),
    StablePids1 = [ets:lookup_element(T, Id, 2) || Id <- Stable],
    Values = [{Id, gen_server:call(ets:lookup_element(T, Id, 2), get, 10000)} || Id <- Stable],
    LostSends = lists:sum([maps:get(Id, Sent, 0) - V || {Id, V} <- Values]),
    Ok = lists:sum([O || {O, _, _} <- CallRes]),
    Exits = lists:sum([E || {_, E, _} <- CallRes]),
    Lost = lists:sum([L || {_, _, L} <- CallRes]),
    NSent = lists:sum(maps:values(Sent)),
    Warm = warm_rss(Samples, Ms div 10, Rss0),
    LoadEnd = case Samples of [] -> Rss0; _ -> element(2, lists:last(Samples)) end,
    RssEnd = rss_kb(OsPid),
    Max = lists:max([R || {_, R} <- Samples] ++ [RssEnd]),
    %% drift: growth from warm to the end (the larger of under load and idle)
    Drift = (max(RssEnd, LoadEnd) - Warm) * 100 / max(1, Warm),
    io:format("soak: calls=~b (replies ~b, exits from killed children ~b, lost ~b) "
              "sends=~b (lost ~b) kills=~b in ~.1f s~n",
              [Ok + Exits + Lost, Ok, Exits, Lost, NSent, LostSends, Kills, Elapsed / 1000]),
    io:format("soak: RSS kB start ~b, warm (10% in) ~b, last under load ~b (~.2f%), "
              "end, idle ~b, max ~b: drift ~.2f%~n",
              [Rss0, Warm, LoadEnd, (LoadEnd - Warm) * 100 / max(1, Warm), RssEnd, Max,
               Drift]),
    io:format("soak: stable children kept their pids: ~p~n", [StablePids0 =:= StablePids1]),
    Alive = net_adm:ping(phc_node()) =:= pong,
    os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    Status = receive {Port, {exit_status, St}} -> St after 15000 -> timeout end,
    io:format("soak: phc-node exit status after SIGTERM: ~p~n", [Status]),
    Pass = Lost =:= 0 andalso LostSends =:= 0 andalso Alive
        andalso StablePids0 =:= StablePids1 andalso Drift =< 5.0,
    io:format("soak: RESULT ~s~n", [case Pass of true -> "PASS"; false -> "FAIL" end]),
    case Pass of true -> ok; false -> failed end.

%% The RSS sample nearest after At ms (or the start value).
warm_rss(Samples, At, Rss0) ->
    case [R || {Ms, R} <- Samples, Ms >= At] of
        [R | _] -> R;
        [] -> Rss0
    end.

%% Keep to the schedule: op I of N over Ms is due at I * Ms / N.
pace(I, N, Ms, T0) ->
    Due = T0 + (I * Ms) div N,
    Now = erlang:monotonic_time(millisecond),
    Due > Now + 1 andalso timer:sleep(Due - Now),
    ok.

call_worker(W, N, Ms, T0, T, Stable, Crashy) ->
    All = list_to_tuple(Stable ++ Crashy),
    call_loop(W, 0, N, Ms, T0, T, All, {0, 0, 0}).

call_loop(_W, N, N, _Ms, _T0, _T, _All, Acc) -> Acc;
call_loop(W, I, N, Ms, T0, T, All, {Ok, Ex, Lost}) ->
    I rem 64 =:= 0 andalso pace(I, N, Ms, T0),
    Id = element(1 + (W + I) rem tuple_size(All), All),
    Pid = ets:lookup_element(T, Id, 2),
    Acc = try gen_server:call(Pid, get, 5000) of
              V when is_integer(V) -> {Ok + 1, Ex, Lost}
          catch
              exit:{timeout, _} -> {Ok, Ex, Lost + 1};
              exit:_ -> refresh(T, Id, Pid), {Ok, Ex + 1, Lost}
          end,
    call_loop(W, I + 1, N, Ms, T0, T, All, Acc).

%% A child was killed: wait for the supervisor's new pid.
refresh(T, Id, Old) ->
    case pid_of(Id) of
        P when is_pid(P), P =/= Old -> ets:insert(T, {Id, P});
        _ -> timer:sleep(5), refresh(T, Id, Old)
    end.

send_worker(W, N, Ms, T0, T, Stable) ->
    S = list_to_tuple(Stable),
    Pids = list_to_tuple([ets:lookup_element(T, Id, 2) || Id <- Stable]),
    send_loop(W, 0, N, Ms, T0, S, Pids, #{}).

send_loop(_W, N, N, _Ms, _T0, _S, _Pids, Acc) -> Acc;
send_loop(W, I, N, Ms, T0, S, Pids, Acc) ->
    I rem 256 =:= 0 andalso pace(I, N, Ms, T0),
    K = 1 + (W + I) rem tuple_size(S),
    element(K, Pids) ! {add, 1},
    Id = element(K, S),
    send_loop(W, I + 1, N, Ms, T0, S, Pids, Acc#{Id => maps:get(Id, Acc, 0) + 1}).

killer(T, Crashy, KillMs, K) ->
    receive
        {stop, From} -> From ! {kills, K}
    after KillMs ->
            Id = lists:nth(rand:uniform(length(Crashy)), Crashy),
            Pid = ets:lookup_element(T, Id, 2),
            exit(Pid, kill),
            refresh(T, Id, Pid),
            killer(T, Crashy, KillMs, K + 1)
    end.

sampler(OsPid, T0, Ms, Acc) ->
    receive
        {stop, From} -> From ! {samples, Acc}
    after 1000 ->
            Now = erlang:monotonic_time(millisecond) - T0,
            sampler(OsPid, T0, Ms, [{Now, rss_kb(OsPid)} | Acc])
    end.
