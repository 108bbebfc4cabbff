%% BEAM stand-in for phc's built-in phc_counter child type (see README):
%% lets the interop suites be checked against a real BEAM node.
-module(phc_counter).
-behaviour(gen_server).
-export([start_link/1, start/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% Not linked: phc's start_link started through rpc/erpc must outlive the
%% rpc process (rpc start_link, then calls to the server work). On a BEAM node
%% the erpc process exits with a non-normal reason and would take a
%% linked child with it, so the stand-in does not link.
%% As a DistributedSupervisor child: [{name, Via}, {value, V} | _], linked
%% to the DynamicSupervisor and registered through the via name.
start_link([{name, {via, _, _} = Via} | _] = Opts) ->
    gen_server:start_link(Via, ?MODULE, proplists:get_value(value, Opts, 0), []);
start_link(N) -> gen_server:start(?MODULE, N, []).
start(N) -> gen_server:start(?MODULE, N, []).

init(N) -> {ok, #{n => N, last_down => none}}.

handle_call({add, D}, _From, S = #{n := N}) -> {reply, N + D, S#{n := N + D}};
handle_call(get, _From, S = #{n := N}) -> {reply, N, S};
handle_call({crash, Reason}, _From, S) -> {stop, Reason, S};
handle_call(stop, _From, S) -> {stop, normal, ok, S};
handle_call({monitor, Pid}, _From, S) -> _ = monitor(process, Pid), {reply, ok, S};
handle_call(last_down, _From, S = #{last_down := L}) -> {reply, L, S}.

handle_cast({add, D}, S = #{n := N}) -> {noreply, S#{n := N + D}}.

handle_info({add, D}, S = #{n := N}) -> {noreply, S#{n := N + D}};
handle_info({'DOWN', _, process, _, R}, S) -> {noreply, S#{last_down := R}};
handle_info(_, S) -> {noreply, S}.
