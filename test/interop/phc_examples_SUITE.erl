%% The examples (examples/), built against an INSTALLED phc with pkg-config
%% by test/install/run, which sets PHC_EXAMPLES_DIR (skipped without it):
%% the SQLite key-value plugin (data survives a restart of the node), the
%% sampler plugin (timer readings to subscribers, monitors drop dead ones),
%% and the embedding program, linked to libphc.so and to libphc.a,
%% answering calls as its own node.
-module(phc_examples_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

suite() -> [{timetrap, {seconds, 60}}].

all() -> [sqlite_kv_durable, sampler_publishes, embed_shared, embed_static].

init_per_suite(Config) ->
    case os:getenv("PHC_EXAMPLES_DIR", "") of
        "" -> {skip, "PHC_EXAMPLES_DIR not set (test/install/run sets it)"};
        Dir -> [{ex_dir, Dir} | phc_interop:init_suite(Config)]
    end.

end_per_suite(_Config) -> ok.

init_per_testcase(_TC, Config) -> Config.

end_per_testcase(_TC, _Config) ->
    [phc_interop:stop_phc(P) || P <- erase_started()],
    ok.

started(P) -> put(started, [P | get_started()]), P.
get_started() -> case get(started) of undefined -> []; L -> L end.
erase_started() -> L = get_started(), erase(started), L.

ex(Config, File) -> filename:join(?config(ex_dir, Config), File).

start_phc(Config, Plugin) ->
    started(phc_interop:start_phc(Config, ex,
                                  #{args => ["-load", ex(Config, Plugin)]})).

%% ---------------------------------------------------------------------

sqlite_kv_durable(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "sqlite"),
    ok = filelib:ensure_path(Dir),
    true = os:putenv("PHC_SQLITE_DIR", Dir),
    Store = list_to_atom("store_" ++ os:getpid()),
    P1 = start_phc(Config, "phc_sqlite_kv.so"),
    N1 = maps:get(node, P1),
    {ok, Kv} = rpc:call(N1, phc_sqlite_kv, start_link, [Store]),
    ?assertEqual(ok, gen_server:call(Kv, {put, <<"k1">>, #{v => [1, 2.5]}})),
    ?assertEqual(ok, gen_server:call(Kv, {put, {tuple, key}, 42})),
    ?assertEqual(#{v => [1, 2.5]}, gen_server:call(Kv, {get, <<"k1">>})),
    ?assertEqual(nil, gen_server:call(Kv, {get, nope})),
    ?assertEqual(2, gen_server:call(Kv, count)),
    ?assertEqual(ok, gen_server:call(Kv, {delete, {tuple, key}})),
    ?assertEqual([<<"k1">>], gen_server:call(Kv, keys)),
    {exited, 0} = phc_interop:stop_phc(P1),
    %% a new node process, the same store: the data is still there
    P2 = start_phc(Config, "phc_sqlite_kv.so"),
    {ok, Kv2} = erpc:call(maps:get(node, P2), phc_sqlite_kv, start, [Store]),
    ?assertEqual(#{v => [1, 2.5]}, gen_server:call(Kv2, {get, <<"k1">>})),
    ?assertEqual(1, gen_server:call(Kv2, count)).

sampler_publishes(Config) ->
    P = start_phc(Config, "phc_sampler.so"),
    N = maps:get(node, P),
    {ok, S} = rpc:call(N, phc_sampler, start_link, [50]),
    ?assertEqual(ok, gen_server:call(S, {subscribe, self()})),
    Seqs = [receive {reading, S, Seq, Load} when is_float(Load) -> Seq
            after 2000 -> ct:fail(no_reading) end || _ <- [1, 2, 3]],
    ct:log("readings ~p", [Seqs]),
    ?assertEqual(Seqs, lists:sort(Seqs)),
    {Last, _} = gen_server:call(S, last),
    ?assert(Last >= lists:last(Seqs)),
    Sub = spawn(fun() -> receive stop -> ok end end),
    ?assertEqual(ok, gen_server:call(S, {subscribe, Sub})),
    ?assertEqual(2, gen_server:call(S, subscribers)),
    Sub ! stop,
    ok = phc_interop:wait_until(
           fun() -> gen_server:call(S, subscribers) =:= 1 end, 2000).

embed_shared(Config) -> embed(Config, "embed").
embed_static(Config) -> embed(Config, "embed-static").

embed(Config, Exe) ->
    Node = phc_interop:unique_name(embed),
    Log = filename:join(?config(priv_dir, Config), Exe ++ ".log"),
    Self = self(),
    K = spawn(fun() -> keeper(Self, ex(Config, Exe),
                              [atom_to_list(Node),
                               atom_to_list(erlang:get_cookie())], Log) end),
    OsPid = receive {K, os_pid, OP} -> OP after 5000 -> ct:fail(no_start) end,
    ok = phc_interop:wait_until(fun() -> net_adm:ping(Node) =:= pong end,
                                10000),
    {ok, G} = rpc:call(Node, embed_greeter, start_link, [<<"hi">>]),
    ?assertEqual(<<"hi, joe">>, gen_server:call(G, {greet, <<"joe">>})),
    ?assertEqual(1, gen_server:call(G, count)),
    ?assertEqual(Node, erpc:call(Node, erlang, node, [])),
    phc_interop:os_signal(OsPid, "TERM"),
    ?assertEqual({exit_status, 0},
                 receive {K, exited, S} -> {exit_status, S}
                 after 5000 -> phc_interop:os_signal(OsPid, "KILL"), timeout
                 end).

%% Owns the port of the embedding program; reports its os pid and status.
keeper(Parent, Exe, Args, Log) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" >>\"$LOG\" 2>&1 </dev/null",
                              Exe | Args]},
                      {env, [{"LOG", Log}]}, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Parent ! {self(), os_pid, OsPid},
    receive {Port, {exit_status, S}} -> Parent ! {self(), exited, S} end.
