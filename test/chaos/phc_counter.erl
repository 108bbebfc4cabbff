%% The BEAM twin of phc's built-in phc_counter child type, for the chaos
%% run's BEAM members: the same module name, so a child spec
%% #{id => Id, start => {phc_counter, start_link, [0]}} runs on either side.
-module(phc_counter).
-behaviour(gen_server).
-export([start_link/1, init/1, handle_call/3, handle_cast/2]).

start_link(N) -> gen_server:start_link(?MODULE, N, []).

init(N) when is_integer(N) -> {ok, N};
init(_) -> {ok, 0}.

handle_call(get, _From, N) -> {reply, N, N};
handle_call({add, K}, _From, N) -> {reply, N + K, N + K};
handle_call(_, _From, N) -> {reply, {error, unknown_call}, N}.

handle_cast({add, K}, N) -> {noreply, N + K};
handle_cast(_, N) -> {noreply, N}.
