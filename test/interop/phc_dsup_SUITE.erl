%% phc beside a real DistributedSupervisor cluster (am-kantox's
%% DistributedSupervisor 0.5.x with libring), phc not running one: two BEAM
%% members run DistributedSupervisor.start_link(name: Bar.DS,
%% monitor_nodes: true); a third node is merely connected, so it is in their
%% ring and the children that hash to it are started with
%% rpc:block_call(Third, DynamicSupervisor, start_child, ...). The third
%% node is a BEAM node without DistributedSupervisor (the expected
%% behaviour) in one case, phc in the other: every start_child must return
%% promptly, with the same answers.
%%
%% Needs the library built outside the repository: PHC_DSUP_LIBS names a
%% directory in ERL_LIBS layout (distributed_supervisor, libring,
%% nimble_options, nimble_options_ex, each with an ebin/); without it the
%% suite has no cases. Node names start with ds_.
-module(phc_dsup_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(DSUP, 'Elixir.DistributedSupervisor').
-define(NAME, 'Elixir.Bar.DS').
-define(ELIXIR, ["/usr/lib/elixir/lib/elixir/ebin", "/usr/lib/elixir/lib/logger/ebin"]).
-define(CHILDREN, 24).

suite() -> [{timetrap, {seconds, 120}}].

%% No cases without the library (run treats a skip as a failure).
all() ->
    case os:getenv("PHC_DSUP_LIBS") of
        false -> [];
        _ -> [beam_third_node, phc_third_node]
    end.

init_per_suite(Config) ->
    case os:getenv("PHC_DSUP_LIBS") of
        false -> {skip, "PHC_DSUP_LIBS not set (DistributedSupervisor built outside the repo)"};
        Libs ->
            case phc_interop:init_suite(Config) of
                {skip, _} = S -> S;
                C -> [{libs, Libs} | C]
            end
    end.

end_per_suite(_Config) -> ok.

peer_args(Config) ->
    Libs = ?config(libs, Config),
    Ebins = [filename:join([Libs, D, "ebin"])
             || D <- ["distributed_supervisor", "libring", "nimble_options",
                      "nimble_options_ex"]],
    lists:append([["-pa", P] || P <- ?ELIXIR ++ Ebins]).

%% ---- children: a minimal gen_server registered through the via name ------

child_start_link(Opts) ->
    gen_server:start_link(proplists:get_value(name, Opts), ?MODULE, [], []).

init([]) -> {ok, #{}}.
handle_call(ping, _From, S) -> {reply, {pong, node()}, S}.
handle_cast(_, S) -> {noreply, S}.

%% A long-lived process on a member owns the DistributedSupervisor.
ds_keeper() ->
    Parent = self(),
    Pid = spawn(fun() ->
                        {ok, _} = application:ensure_all_started(logger),
                        R = ?DSUP:start_link([{name, ?NAME}, {monitor_nodes, true}]),
                        Parent ! {self(), R},
                        receive stop -> ok end
                end),
    receive {Pid, R} -> {R, Pid} after 10000 -> timeout end.

%% ---- the two runs ------------------------------------------------------------

beam_third_node(Config) ->
    %% Elixir on its path (as in any Elixir cluster), no DistributedSupervisor
    {Peer, Third} = phc_interop:start_peer(ds_plain, #{args => ["-pa", hd(?ELIXIR)]}),
    try run(Config, Third) of
        Res -> ct:log("BEAM third node: ~p", [Res]), check(Res, Third)
    after
        phc_interop:stop_peer({Peer, Third})
    end.

phc_third_node(Config) ->
    Phc = phc_interop:start_phc(Config, ds_phc),
    Third = maps:get(node, Phc),
    try run(Config, Third) of
        Res -> ct:log("phc third node: ~p", [Res]), check(Res, Third)
    after
        ct:log("phc stop: ~p", [phc_interop:stop_phc(Phc)])
    end.

%% Members A and B run Bar.DS and see Third; A starts ?CHILDREN children.
%% Returns [{Key, NodeFor, Result, Millis}].
run(Config, Third) ->
    Args = peer_args(Config),
    {PA, A} = phc_interop:start_peer(ds_a, #{args => Args}),
    {PB, B} = phc_interop:start_peer(ds_b, #{args => Args}),
    try
        %% peer:call over stdio: the test node itself must stay out of the ring
        [pong = peer:call(P, net_adm, ping, [M]) || {P, M} <- [{PA, B}, {PA, Third}, {PB, Third}]],
        [{{ok, _}, _} = peer:call(P, ?MODULE, ds_keeper, []) || P <- [PA, PB]],
        Want = lists:sort([A, B, Third]),
        case phc_interop:wait_until(fun() ->
                 lists:sort(peer:call(PA, ?DSUP, nodes, [?NAME])) =:= Want andalso
                 lists:sort(peer:call(PB, ?DSUP, nodes, [?NAME])) =:= Want
             end, 10000) of
            ok -> ok;
            timeout -> ct:fail({ring, peer:call(PA, ?DSUP, nodes, [?NAME]), Want})
        end,
        [begin
             K = list_to_atom("ds_child_" ++ integer_to_list(I)),
             Spec = #{id => K, start => {?MODULE, child_start_link, [{name, K}]}},
             For = peer:call(PA, ?DSUP, node_for, [?NAME, K]),
             T0 = erlang:monotonic_time(millisecond),
             R = peer:call(PA, ?DSUP, start_child, [?NAME, Spec], 10000),
             {K, For, R, erlang:monotonic_time(millisecond) - T0}
         end || I <- lists:seq(1, ?CHILDREN)]
    after
        phc_interop:stop_peer({PA, A}),
        phc_interop:stop_peer({PB, B})
    end.

%% Every start returned within a second: {ok, Pid, Key} on the members, and
%% on the third node the noproc exit of a node without the supervisor.
check(Res, Third) ->
    [begin
         ?assert(Ms < 1000),
         case For of
             Third ->
                 ?assertMatch({badrpc, {'EXIT', {noproc, {'Elixir.GenServer', call,
                     ['Elixir.Bar.DS.DynamicSupervisor',
                      {start_child, {{?MODULE, child_start_link, [_]}, permanent, 5000,
                                     worker, [?MODULE]}},
                      infinity]}}}}, R);
             _ ->
                 ?assertMatch({ok, P, K} when node(P) =:= For, R)
         end
     end || {K, For, R, Ms} <- Res],
    OnThird = length([x || {_, F, _, _} <- Res, F =:= Third]),
    ct:log("~p of ~p children hash to the third node", [OnThird, length(Res)]),
    ?assert(OnThird > 0).
