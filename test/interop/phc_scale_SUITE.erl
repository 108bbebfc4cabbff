%% Scale: phc hosts more processes than OTP's old 15-bit pid numbers allow.
%% 40,000 phc_counters started from a real OTP node through erpc are each
%% reachable by gen_server:call, sampled across the range and at every pid
%% number above 32,767 that the sample hits; pids travel as NEW_PID_EXT
%% with 32-bit numbers. -max_processes caps the table: the start past it is
%% {error, system_limit}, as on the BEAM, and system_info(process_limit)
%% reports it. A bad value exits 2 naming the flag.
-module(phc_scale_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

suite() -> [{timetrap, {seconds, 60}}].

all() -> [forty_thousand_counters, limit_gives_system_limit, bad_limit_exits_2].

init_per_suite(Config) -> phc_interop:init_suite(Config).
end_per_suite(_Config) -> ok.

init_per_testcase(bad_limit_exits_2, Config) -> Config;
init_per_testcase(TC, Config) ->
    Args = case TC of
               limit_gives_system_limit -> ["-max_processes", "300"];
               _ -> []
           end,
    Phc = phc_interop:start_phc(Config, phcs, #{args => Args, loglevel => "warn"}),
    [{phc, Phc}, {phc_node, maps:get(node, Phc)} | Config].

end_per_testcase(bad_limit_exits_2, _Config) -> ok;
end_per_testcase(TC, Config) ->
    phc_basic_SUITE:end_per_testcase(TC, Config).

phc(Config) -> ?config(phc_node, Config).

%% N counters started with erpc requests in flight 5000 at a time; the
%% results in start order.
start_counters(Node, From, To) when From > To -> [];
start_counters(Node, From, To) ->
    Last = min(To, From + 4999),
    Reqs = [erpc:send_request(Node, phc_counter, start, [I])
            || I <- lists:seq(From, Last)],
    [erpc:receive_response(R, 20000) || R <- Reqs]
        ++ start_counters(Node, Last + 1, To).

%% The pid number as NEW_PID_EXT carries it.
pid_num(Pid) ->
    B = term_to_binary(Pid),
    Sz = byte_size(B) - 14,
    <<131, 88, _:Sz/binary, Num:32, _Serial:32, _Creation:32>> = B,
    Num.

%% ---------------------------------------------------------------------

forty_thousand_counters(Config) ->
    Node = phc(Config),
    N = 40000,
    T0 = erlang:monotonic_time(millisecond),
    Results = start_counters(Node, 1, N),
    Ms = erlang:monotonic_time(millisecond) - T0,
    Pids = [P || {ok, P} <- Results],
    ?assertEqual(N, length(Pids)),
    ?assert(lists:all(fun(P) -> node(P) =:= Node end, Pids)),
    ?assertEqual(N, length(lists:usort(Pids))),
    Wide = [{I, P} || {I, P} <- lists:zip(lists:seq(1, N), Pids),
                      pid_num(P) > 32767],
    ?assert(length(Wide) >= N - 32767),
    %% every 97th counter, and every one with a number above 32767 in a
    %% stride of 13, answers with the value it started with
    Sample = [{I, P} || {I, P} <- lists:zip(lists:seq(1, N), Pids), I rem 97 =:= 0]
        ++ [E || {K, E} <- lists:zip(lists:seq(1, length(Wide)), Wide), K rem 13 =:= 1],
    lists:foreach(fun({I, P}) -> ?assertEqual(I, gen_server:call(P, get)) end,
                  Sample),
    {Lw, Pw} = lists:last(Wide),
    ?assertEqual(Lw + 5, gen_server:call(Pw, {add, 5})),
    Count = erpc:call(Node, erlang, system_info, [process_count]),
    ?assert(Count >= N),
    ?assertEqual(1048576, erpc:call(Node, erlang, system_info, [process_limit])),
    Rss = rss_kb(?config(phc, Config)),
    ct:log("~b counters started in ~b ms; ~b with pid numbers > 32767 "
           "(highest ~b); phc RSS ~b kB (~b bytes per process)",
           [N, Ms, length(Wide), lists:max([pid_num(P) || P <- Pids]), Rss,
            Rss * 1024 div Count]).

limit_gives_system_limit(Config) ->
    Node = phc(Config),
    ?assertEqual(300, erpc:call(Node, erlang, system_info, [process_limit])),
    Live = erpc:call(Node, erlang, system_info, [process_count]),
    Results = start_counters(Node, 1, 300),
    {Ok, Err} = lists:partition(fun(R) -> element(1, R) =:= ok end, Results),
    ?assertEqual(300 - Live, length(Ok)),
    ?assertEqual(Live, length(Err)),
    ?assert(lists:all(fun(E) -> E =:= {error, system_limit} end, Err)),
    ?assertEqual({error, system_limit},
                 rpc:call(Node, phc_counter, start_link, [0])),
    %% one ends, one more starts
    {ok, P} = hd(Ok),
    ok = gen_server:stop(P),
    ?assertMatch({ok, _}, rpc:call(Node, phc_counter, start, [0])),
    ?assertEqual({error, system_limit}, rpc:call(Node, phc_counter, start, [0])).

bad_limit_exits_2(_Config) ->
    Exe = phc_interop:phc_path(),
    lists:foreach(
      fun(V) ->
              Port = open_port({spawn_executable, Exe},
                               [{args, ["-name", atom_to_list(phc_interop:unique_name(bad_limit)),
                                        "-max_processes", V]},
                                exit_status, stderr_to_stdout, binary]),
              {Out, Status} = collect(Port, <<>>),
              ?assertEqual(2, Status),
              ?assertNotEqual(nomatch, binary:match(Out, <<"max_processes">>))
      end, ["0", "-5", "lots", "200000000"]).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {Acc, S}
    after 10000 -> ct:fail(no_exit)
    end.

rss_kb(#{os_pid := OsPid}) ->
    {ok, B} = file:read_file("/proc/" ++ OsPid ++ "/status"),
    {match, [Kb]} = re:run(B, "VmRSS:\\s+(\\d+)", [{capture, all_but_first, list}]),
    list_to_integer(Kb).
