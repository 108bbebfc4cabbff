%% phc_sqlite_kv.erl - the BEAM twin of the phc_sqlite_kv plugin: the same
%% module name, calls and replies, and the same handover state ([{K, V}]),
%% so a ProcessHub child spec {phc_sqlite_kv, start_link, [Name]} runs on
%% BEAM members as on phc members and moves either way with its rows under
%% HotSwap with handover. It keeps its rows in memory (the C type keeps
%% them in SQLite). The two handover messages are handled as ProcessHub's
%% `use ProcessHub.Strategy.Migration.HotSwap` handles them.
-module(phc_sqlite_kv).
-behaviour(gen_server).
-export([start_link/1, init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link(Name) when is_atom(Name) -> gen_server:start_link(?MODULE, Name, []).

init(_Name) -> {ok, #{}}.

handle_call({put, K, V}, _From, S) -> {reply, ok, S#{K => V}};
handle_call({get, K}, _From, S) -> {reply, maps:get(K, S, nil), S};
handle_call({delete, K}, _From, S) -> {reply, ok, maps:remove(K, S)};
handle_call(keys, _From, S) -> {reply, lists:sort(maps:keys(S)), S};
handle_call(count, _From, S) -> {reply, map_size(S), S};
handle_call(_, _From, S) -> {reply, badarg, S}.

handle_cast(_, S) -> {noreply, S}.

handle_info({process_hub, send_handover_state, Receiver, Cid, Opts}, S) ->
    is_pid(Receiver) andalso (Receiver ! {process_hub, handover, Cid, {maps:to_list(S), Opts}}),
    case proplists:get_value(retention_receiver, Opts) of
        R when is_pid(R) -> R ! {process_hub, retention_handled, Cid};
        _ -> ok
    end,
    {noreply, S};
handle_info({process_hub, handover, Cid, {Rows, Opts}}, S) ->
    proplists:get_value(confirm_handover, Opts, false) andalso
        (proplists:get_value(confirmation_receiver, Opts) ! {process_hub, handover_confirmed, Cid}),
    {noreply, maps:merge(S, maps:from_list(Rows))};
handle_info(_, S) -> {noreply, S}.
