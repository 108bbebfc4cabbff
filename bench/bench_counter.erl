%% The BEAM side of `make bench`: a counter gen_server equivalent to phc's
%% built-in phc_counter ({add, N} -> new value, get, cast and info {add, N}),
%% run on a separate BEAM node so both servers are one network hop away.
-module(bench_counter).
-behaviour(gen_server).
-export([start/1, start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start(N) -> gen_server:start(?MODULE, N, []).
start_link(N) -> gen_server:start_link(?MODULE, N, []).

init(N) -> {ok, N}.

handle_call({add, D}, _From, N) -> {reply, N + D, N + D};
handle_call(get, _From, N) -> {reply, N, N}.

handle_cast({add, D}, N) -> {noreply, N + D}.

handle_info({add, D}, N) -> {noreply, N + D};
handle_info(_, N) -> {noreply, N}.
