%% BEAM stand-in for phc's built-in phc_echo child type.
-module(phc_echo).
-behaviour(gen_server).
-export([start_link/1, start/1]).
-export([init/1, handle_call/3, handle_cast/2]).

start_link(A) -> gen_server:start(?MODULE, A, []).  % see phc_counter
start(A) -> gen_server:start(?MODULE, A, []).

init(A) -> {ok, A}.
handle_call(Req, _From, S) -> {reply, Req, S}.
handle_cast(_, S) -> {noreply, S}.
