%% BEAM stand-in for phc's built-in phc_kv child type.
-module(phc_kv).
-behaviour(gen_server).
-export([start_link/1, start/1]).
-export([init/1, handle_call/3, handle_cast/2]).

start_link(A) -> gen_server:start(?MODULE, A, []).  % see phc_counter
start(A) -> gen_server:start(?MODULE, A, []).

init(_) -> {ok, #{}}.
handle_call({put, K, V}, _From, M) -> {reply, ok, M#{K => V}};
handle_call({get, K}, _From, M) -> {reply, maps:get(K, M, undefined), M};
handle_call(keys, _From, M) -> {reply, maps:keys(M), M}.
handle_cast(_, S) -> {noreply, S}.
