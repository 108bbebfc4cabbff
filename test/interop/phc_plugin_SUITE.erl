%% Plugins: phc-node -load PATH (and {load, [Path]} in a config file)
%% dlopens a shared object whose phc_plugin_init registers a child type
%% and a native. A real OTP node then starts the type over rpc and erpc
%% (Module:start_link/1, start/1), calls and casts it, calls the native,
%% and sees it started from a hub child spec. The bad plugins (missing
%% file, no phc_plugin_init, a failing init, another ABI) each give one
%% line naming the path, exit status 2, and no node in epmd.
-module(phc_plugin_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(TYPE, 'Elixir.PhcTest.Plug').

suite() -> [{timetrap, {seconds, 60}}].

all() ->
    [rpc_start_call_cast, erpc_start_and_native, builtins_still_start,
     config_file_load, hub_child_spec_names_plugin_type,
     missing_file, missing_init, failing_init, abi_mismatch].

init_per_suite(Config) ->
    phc_interop:init_suite(Config).

end_per_suite(_Config) -> ok.

init_per_testcase(_TC, Config) -> Config.

end_per_testcase(_TC, _Config) ->
    Phcs = case erase(phcs) of undefined -> []; L -> L end,
    [phc_interop:stop_phc(P) || P <- Phcs],
    case [R || P <- Phcs, {found, _} = R <- [phc_interop:sanitizer_report(P)]] of
        [] -> ok;
        Bad -> {fail, {sanitizer_report, Bad}}
    end.

plugin(Name) ->
    Dir = filename:join(filename:dirname(phc_interop:phc_path()),
                        "test/plugins"),
    P = filename:join(Dir, Name ++ ".so"),
    case filelib:is_regular(P) of
        true -> P;
        false -> ct:fail({plugin_missing, P, "run make test-plugins"})
    end.

%% Every phc-node a case starts is stopped (and checked for sanitizer
%% reports) by end_per_testcase.
start(Config, Args) ->
    Phc = phc_interop:start_phc(Config, plug, #{args => Args}),
    put(phcs, [Phc | case get(phcs) of undefined -> []; L -> L end]),
    {maps:get(node, Phc), Config}.

%% ---------------------------------------------------------------------

rpc_start_call_cast(Config) ->
    {Phc, _} = start(Config, ["-load", plugin("good")]),
    {ok, Pid} = rpc:call(Phc, ?TYPE, start_link, [5]),
    ?assertEqual(Phc, node(Pid)),
    ?assertEqual(7, gen_server:call(Pid, {add, 2})),
    ok = gen_server:cast(Pid, {add, 3}),
    ?assertEqual(10, gen_server:call(Pid, get)),
    ?assertEqual(badarg, gen_server:call(Pid, what)),
    ?assertEqual({error, init_failed},
                 rpc:call(Phc, ?TYPE, start_link, [not_an_integer])),
    ?assertMatch({badrpc, {'EXIT', {undef, _}}},
                 rpc:call(Phc, ?TYPE, start_link, [1, extra])).

erpc_start_and_native(Config) ->
    {Phc, _} = start(Config, ["-load", plugin("good")]),
    {ok, Pid} = erpc:call(Phc, ?TYPE, start, [1]),
    ?assertEqual(2, gen_server:call(Pid, {add, 1})),
    ?assertEqual({hello, world}, erpc:call(Phc, test_plugin, hello, [world])),
    ?assertEqual({hello, #{a => [1, 2]}},
                 erpc:call(Phc, test_plugin, hello, [#{a => [1, 2]}])).

builtins_still_start(Config) ->
    {Phc, _} = start(Config, ["-load", plugin("good")]),
    {ok, C} = rpc:call(Phc, phc_counter, start_link, [4]),
    ?assertEqual(5, gen_server:call(C, {add, 1})),
    {ok, K} = erpc:call(Phc, phc_kv, start, [[]]),
    ?assertEqual(ok, gen_server:call(K, {put, a, 1})),
    ?assertMatch({badrpc, {'EXIT', {undef, _}}},
                 rpc:call(Phc, no_such_type, start_link, [[]])).

config_file_load(Config) ->
    File = filename:join(?config(priv_dir, Config), "plug.config"),
    ok = file:write_file(File, io_lib:format("{load, [~p]}.~n",
                                             [plugin("good")])),
    {Phc, _} = start(Config, ["-config", File]),
    {ok, Pid} = rpc:call(Phc, ?TYPE, start_link, [40]),
    ?assertEqual(42, gen_server:call(Pid, {add, 2})).

hub_child_spec_names_plugin_type(Config) ->
    Hub = list_to_atom("plug_hub_" ++ os:getpid()),
    File = filename:join(?config(priv_dir, Config), "hub.config"),
    Spec = #{id => <<"p1">>, start => {?TYPE, start_link, [3]}},
    ok = file:write_file(File, io_lib:format(
        "{load, [~p]}.~n{hub, ~p, [{child_specs, [~p]}]}.~n",
        [plugin("good"), Hub, Spec])),
    {Phc, _} = start(Config, ["-config", File]),
    F = fun() -> erpc:call(Phc, 'Elixir.ProcessHub', process_list,
                           [Hub, local]) end,
    ok = phc_interop:wait_until(fun() -> length(F()) =:= 1 end, 10000),
    [{<<"p1">>, Pid}] = F(),
    ?assertEqual(4, gen_server:call(Pid, {add, 1})).

missing_file(Config) ->
    bad(Config, ["-load", "/nonexistent/plugin.so"], "cannot load").

missing_init(Config) ->
    bad(Config, ["-load", plugin("noinit")], "missing symbol phc_plugin_init").

failing_init(Config) ->
    bad(Config, ["-load", plugin("fail")],
        "phc_plugin_init failed: already exists").

abi_mismatch(Config) ->
    bad(Config, ["-load", plugin("oldabi")], "ABI version mismatch").

%% One line naming the path and the cause, exit status 2, nothing in epmd.
bad(_Config, [_, Path] = Args, Cause) ->
    Name = "plugbad_" ++ os:getpid(),
    {Status, Out} = run_cli(["-name", Name ++ "@127.0.0.1",
                             "-setcookie", atom_to_list(erlang:get_cookie())
                             | Args]),
    ct:log("phc-node ~p -> ~p~n~s", [Args, Status, Out]),
    ?assertEqual(2, Status),
    [Line] = string:split(string:trim(Out), "\n", all),
    ?assertNotEqual(nomatch, string:find(Line, Path)),
    ?assertNotEqual(nomatch, string:find(Line, Cause)),
    ?assertEqual(noport, erl_epmd:port_please(Name, "127.0.0.1", 1000)).

run_cli(Args) ->
    Port = open_port({spawn_executable, phc_interop:phc_path()},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [D | Acc]);
        {Port, {exit_status, S}} ->
            {S, binary_to_list(iolist_to_binary(lists:reverse(Acc)))}
    after 10000 ->
            ct:fail(cli_did_not_exit)
    end.
