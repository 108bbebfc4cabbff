%% rex and introspection: every request OTP's rpc module sends to rex
%% (block_call, call, cast, sbcast, server_call, features_request, the
%% hidden-C-node {From, {call, ...}}), DynamicSupervisor calls for a
%% supervisor the node does not run, and the introspection BIFs tools ask
%% first. Each case sends the same request to a BEAM peer (with Elixir on
%% its path) and to phc and compares the answers' shapes.
-module(phc_rex_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

suite() -> [{timetrap, {seconds, 60}}].

all() ->
    [block_call_ok, block_call_undef, block_call_badarg, call_ok_and_undef,
     gen_call_stop_and_unknown, cast_runs, sbcast, server_call_unknown_name,
     features_request, hidden_cnode_call, ds_start_child_noproc,
     ds_other_calls_noproc, ds_invalid_spec, erpc_exit_class,
     memory, system_info, processes_registered, pinfo,
     alive, statistics, node_whereis, global_whereis,
     rpc_pinfo].

-define(ELIXIR, "/usr/lib/elixir/lib/elixir/ebin").
-define(DS, 'Elixir.DynamicSupervisor').

init_per_suite(Config) ->
    case phc_interop:init_suite(Config) of
        {skip, _} = S -> S;
        C ->
            Phc = phc_interop:start_phc(C, rex),
            Peer = phc_interop:start_peer(rexbeam, #{args => ["-pa", ?ELIXIR]}),
            [{phc, Phc}, {peer, Peer} | C]
    end.

end_per_suite(Config) ->
    phc_interop:stop_peer(?config(peer, Config)),
    Phc = ?config(phc, Config),
    R = phc_interop:stop_phc(Phc),
    ct:log("phc stop: ~p, sanitizer: ~p",
           [R, phc_interop:sanitizer_report(Phc)]),
    ok.

phc(Config) -> maps:get(node, ?config(phc, Config)).
beam(Config) -> element(2, ?config(peer, Config)).

%% The same call on both nodes.
both(Config, F) -> {F(beam(Config)), F(phc(Config))}.

%% Shapes equal: same term with pids, refs, numbers and binaries replaced.
shape(T) when is_pid(T) -> pid;
shape(T) when is_reference(T) -> ref;
shape(T) when is_integer(T) -> int;
shape(T) when is_float(T) -> float;
shape(T) when is_binary(T) -> bin;
shape(T) when is_atom(T) -> T;
shape(T) when is_tuple(T) -> list_to_tuple([shape(E) || E <- tuple_to_list(T)]);
shape(T) when is_map(T) -> maps:map(fun(_, V) -> shape(V) end, T);
shape([]) -> [];
shape(L) when is_list(L) ->
    case io_lib:printable_list(L) of
        true -> string;
        false -> [shape(E) || E <- L]
    end.

%% Replace the node names in a term by 'NODE'.
unnode(T, Nodes) when is_atom(T) ->
    case lists:member(T, Nodes) of true -> 'NODE'; false -> T end;
unnode(T, Nodes) when is_tuple(T) ->
    list_to_tuple([unnode(E, Nodes) || E <- tuple_to_list(T)]);
unnode(T, Nodes) when is_list(T) -> [unnode(E, Nodes) || E <- T];
unnode(T, _) -> T.

same(Config, {B, P}) ->
    Nodes = [beam(Config), phc(Config)],
    ct:log("beam: ~p~nphc:  ~p", [B, P]),
    ?assertEqual(unnode(B, Nodes), unnode(P, Nodes)).

%% ---- rex -----------------------------------------------------------------

block_call_ok(Config) ->
    same(Config, both(Config, fun(N) -> rpc:block_call(N, erlang, node, []) =:= N end)),
    same(Config, both(Config, fun(N) -> rpc:block_call(N, erlang, send, [nowhere_x, hi], 2000) end)).

block_call_undef(Config) ->
    same(Config, both(Config, fun(N) -> rpc:block_call(N, no_such_mod, f, [1, 2], 5000) end)).

block_call_badarg(Config) ->
    {B, P} = both(Config, fun(N) -> rpc:block_call(N, erlang, send, [1, x], 5000) end),
    ct:log("beam ~p~nphc ~p", [B, P]),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, B),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, P).

call_ok_and_undef(Config) ->
    same(Config, both(Config, fun(N) -> rpc:call(N, erlang, node, []) =:= N end)),
    same(Config, both(Config, fun(N) -> rpc:call(N, no_such_mod, f, []) end)),
    %% the old gen_server path of rpc:call (pre-erpc peers)
    same(Config, both(Config, fun(N) ->
        gen_server:call({rex, N}, {call, erlang, node, [], group_leader()}) =:= N end)).

gen_call_stop_and_unknown(Config) ->
    %% rex ignores a call it does not know: both time out
    same(Config, both(Config, fun(N) ->
        try gen_server:call({rex, N}, what_is_this, 300)
        catch exit:{timeout, _} -> timeout end end)).

cast_runs(Config) ->
    Self = self(),
    Tag = make_ref(),
    register(rex_cast_probe, Self),
    [true = rpc:cast(N, erlang, send, [{rex_cast_probe, node()}, {Tag, N}])
     || N <- [beam(Config), phc(Config)]],
    Got = [receive {Tag, N} -> N after 3000 -> timeout end
           || N <- [beam(Config), phc(Config)]],
    unregister(rex_cast_probe),
    ?assertEqual([beam(Config), phc(Config)], Got).

sbcast(Config) ->
    B = beam(Config), P = phc(Config),
    {Good, Bad} = rpc:sbcast([B, P], no_such_name_here, hi),
    ?assertEqual({[], lists:sort([B, P])}, {Good, lists:sort(Bad)}),
    {Good2, Bad2} = rpc:sbcast([B, P], rex, hi),
    ?assertEqual({lists:sort([B, P]), []}, {lists:sort(Good2), Bad2}).

server_call_unknown_name(Config) ->
    same(Config, both(Config, fun(N) -> rpc:server_call(N, no_such_srv, x, hi) end)).

features_request(Config) ->
    same(Config, both(Config, fun(N) ->
        {rex, N} ! {self(), features_request},
        receive {features_reply, N, L} -> L after 3000 -> timeout end end)).

hidden_cnode_call(Config) ->
    same(Config, both(Config, fun(N) ->
        {rex, N} ! {self(), {call, erlang, node, [], user}},
        receive {rex, R} -> R =:= N after 3000 -> timeout end end)),
    same(Config, both(Config, fun(N) ->
        {rex, N} ! {self(), {call, nomod, nofun, [], user}},
        receive {rex, R} -> R after 3000 -> timeout end end)).

%% ---- DynamicSupervisor on a node that does not run it ----------------------

ds_start_child_noproc(Config) ->
    Spec = #{id => c1, start => {'Elixir.Agent', start_link, [x]}},
    T0 = erlang:monotonic_time(millisecond),
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, start_child, ['Elixir.Bar.DS.DynamicSupervisor', Spec], 5000) end)),
    same(Config, both(Config, fun(N) ->
        rpc:call(N, ?DS, start_child, ['Elixir.Bar.DS.DynamicSupervisor', Spec], 5000) end)),
    Old = {c2, {m, f, [1]}, transient, brutal_kill, worker, dynamic},
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, start_child, [bar_ds, Old], 5000) end)),
    Sup = #{id => c3, start => {m, f, []}, type => supervisor},
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, start_child, [bar_ds, Sup], 5000) end)),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 3000).

ds_other_calls_noproc(Config) ->
    Pid = self(),
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, terminate_child, [bar_ds, Pid], 5000) end)),
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, which_children, [bar_ds], 5000) end)),
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, count_children, [bar_ds], 5000) end)).

ds_invalid_spec(Config) ->
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, start_child, [bar_ds, #{id => x}], 5000) end)),
    same(Config, both(Config, fun(N) ->
        rpc:block_call(N, ?DS, start_child,
                       [bar_ds, #{start => {m, f, []}, restart => bad}], 5000) end)).

erpc_exit_class(Config) ->
    same(Config, both(Config, fun(N) ->
        try erpc:call(N, ?DS, which_children, [bar_ds], 5000)
        catch C:R -> {C, R} end end)).

%% ---- introspection ---------------------------------------------------------

memory(Config) ->
    {B, P} = both(Config, fun(N) -> rpc:call(N, erlang, memory, []) end),
    ct:log("beam ~p~nphc ~p", [B, P]),
    ?assertEqual([K || {K, _} <- B], [K || {K, _} <- P]),
    ?assert(lists:all(fun({_, V}) -> is_integer(V) andalso V >= 0 end, P)),
    ?assert(proplists:get_value(total, P) > 0),
    same(Config, both(Config, fun(N) -> shape(rpc:call(N, erlang, memory, [total])) end)),
    same(Config, both(Config, fun(N) -> shape(rpc:call(N, erlang, memory, [[total, processes]])) end)),
    same(Config, both(Config, fun(N) -> element(1, rpc:call(N, erlang, memory, [bogus])) end)).

-define(SI_KEYS, [otp_release, process_count, process_limit, version,
                  system_version, schedulers, schedulers_online, wordsize,
                  logical_processors, logical_processors_available,
                  port_count, port_limit, atom_count, atom_limit, ets_count,
                  ets_limit, thread_pool_size, smp_support, threads,
                  system_architecture, machine, kernel_poll, build_type,
                  dirty_cpu_schedulers, dirty_io_schedulers, creation,
                  {wordsize, internal}, {wordsize, external}, heap_type,
                  dist_buf_busy_limit, logical_processors_online,
                  dirty_cpu_schedulers_online]).

system_info(Config) ->
    [begin
         {B, P} = both(Config, fun(N) -> rpc:call(N, erlang, system_info, [K]) end),
         ct:log("~p: beam ~p phc ~p", [K, B, P]),
         ?assertEqual({K, shape(B)}, {K, shape(P)})
     end || K <- ?SI_KEYS],
    %% one scheduler thread: disabled (a one-scheduler BEAM says the same)
    ?assertEqual(disabled, rpc:call(phc(Config), erlang, system_info, [multi_scheduling])),
    same(Config, both(Config, fun(N) ->
        element(1, rpc:call(N, erlang, system_info, [no_such_key])) end)),
    P = phc(Config),
    ?assert(rpc:call(P, erlang, system_info, [process_count]) =:=
                length(rpc:call(P, erlang, processes, []))).

processes_registered(Config) ->
    P = phc(Config),
    Ps = rpc:call(P, erlang, processes, []),
    ?assert(lists:all(fun(X) -> is_pid(X) andalso node(X) =:= P end, Ps)),
    Regs = rpc:call(P, erlang, registered, []),
    ?assert(lists:member(rex, Regs)),
    ?assert(lists:member(net_kernel, Regs)),
    same(Config, both(Config, fun(N) -> shape(rpc:call(N, erlang, registered, [])) =:= [] end)).

pinfo(Config) ->
    %% rex on each node: a registered process that exists everywhere
    Items = [registered_name, message_queue_len, status, links, monitors,
             monitored_by, dictionary, trap_exit, priority, group_leader,
             current_function, initial_call, reductions, heap_size,
             total_heap_size, stack_size, memory, messages, error_handler,
             garbage_collection],
    [begin
         {B, P} = both(Config, fun(N) ->
             R = rpc:call(N, erlang, whereis, [rex]),
             rpc:call(N, erlang, process_info, [R, I]) end),
         ct:log("~p: beam ~p phc ~p", [I, B, P]),
         ?assertEqual({I, element(1, B)}, {I, element(1, P)}),
         ?assertEqual({I, kind(element(2, B))}, {I, kind(element(2, P))})
     end || I <- Items],
    {B1, P1} = both(Config, fun(N) ->
        R = rpc:call(N, erlang, whereis, [rex]),
        rpc:call(N, erlang, process_info, [R]) end),
    ct:log("beam ~p~nphc ~p", [B1, P1]),
    ?assertEqual([K || {K, _} <- B1], [K || {K, _} <- P1]),
    same(Config, both(Config, fun(N) ->
        R = rpc:call(N, erlang, whereis, [rex]),
        rpc:call(N, erlang, process_info, [R, [registered_name, status, message_queue_len]]) end)),
    %% a process without a name: registered_name gives []
    same(Config, both(Config, fun(N) ->
        [X | _] = [Q || Q <- rpc:call(N, erlang, processes, []),
                        rpc:call(N, erlang, process_info, [Q, registered_name]) =:= []],
        rpc:call(N, erlang, process_info, [X, registered_name]) end)),
    same(Config, both(Config, fun(N) ->
        element(1, rpc:call(N, erlang, process_info, [self(), status])) end)).

kind(V) when is_list(V) -> list;
kind(V) -> anyatom(shape(V)).

anyatom(A) when is_boolean(A) -> bool; % rex traps exits on the BEAM only
anyatom(A) when is_atom(A) -> atom;
anyatom(T) when is_tuple(T) -> list_to_tuple([anyatom(E) || E <- tuple_to_list(T)]);
anyatom(T) -> T.

alive(Config) ->
    same(Config, both(Config, fun(N) ->
        R = rpc:call(N, erlang, whereis, [rex]),
        rpc:call(N, erlang, is_process_alive, [R]) end)),
    same(Config, both(Config, fun(N) ->
        shape(rpc:call(N, erlang, is_process_alive, [self()])) end)),
    same(Config, both(Config, fun(N) ->
        element(1, rpc:call(N, erlang, is_process_alive, [x])) end)).

statistics(Config) ->
    [begin
         {B, P} = both(Config, fun(N) -> rpc:call(N, erlang, statistics, [K]) end),
         ct:log("~p: beam ~p phc ~p", [K, B, P]),
         ?assertEqual({K, shape(B)}, {K, shape(P)})
     end || K <- [wall_clock, runtime, reductions, run_queue,
                  context_switches, io, garbage_collection,
                  total_run_queue_lengths, total_active_tasks,
                  exact_reductions]],
    P = phc(Config),
    {W1, _} = rpc:call(P, erlang, statistics, [wall_clock]),
    timer:sleep(100),
    {W2, D} = rpc:call(P, erlang, statistics, [wall_clock]),
    ?assert(W2 - W1 >= 100 andalso D >= 100),
    same(Config, both(Config, fun(N) -> element(1, rpc:call(N, erlang, statistics, [bogus])) end)).

node_whereis(Config) ->
    same(Config, both(Config, fun(N) ->
        R = rpc:call(N, erlang, whereis, [rex]),
        {node(R) =:= N, rpc:call(N, erlang, node, [R]) =:= N,
         rpc:call(N, erlang, node, [self()]) =:= node(),
         rpc:call(N, erlang, whereis, [no_such_name_x])} end)),
    same(Config, both(Config, fun(N) -> element(1, rpc:call(N, erlang, node, [1])) end)).

global_whereis(Config) ->
    same(Config, both(Config, fun(N) ->
        rpc:call(N, global, whereis_name, [no_such_global_name]) end)).

rpc_pinfo(Config) ->
    {B, P} = both(Config, fun(N) ->
        rpc:pinfo(rpc:call(N, erlang, whereis, [rex]), registered_name) end),
    ?assertEqual({registered_name, rex}, B),
    ?assertEqual({registered_name, rex}, P).
