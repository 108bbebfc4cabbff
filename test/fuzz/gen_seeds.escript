#!/usr/bin/env escript
%% gen_seeds.escript FIXTURES OUTDIR - seed corpora for the fuzz harnesses
%% (test/fuzz/README.md) from the captured fixtures: OUTDIR/<harness>/.
%% gen_seeds.escript --regress FIXTURES REGRESS - (re)writes the crafted
%% regression inputs for the five defects the fuzz suite was built around
%% into REGRESS/<harness>/ (test/fuzz/regress; found crashes sit beside).
%% The input formats are the harnesses' own (see each fuzz_*.c).
-mode(compile).

main(["--regress", Fix, Out]) ->
    regress(Fix, Out);
main([Fix, Out]) ->
    Hub = [{filename:basename(F, ".etf"), read(F)}
           || F <- filelib:wildcard(filename:join([Fix, "hub", "*.etf"]))],
    Traces = filelib:wildcard(filename:join([Fix, "traces", "*.etf"])),
    Events = lists:append([events(F) || F <- Traces]),
    w(Out, "term", [{N, strip(B)} || {N, B} <- Hub] ++
         [{"ev" ++ integer_to_list(I), strip(term_to_binary(E))}
          || {I, E} <- enum(lists:sublist(Events, 300))]),
    HubRecs = [{N, hub_rec(N, B)} || {N, B} <- Hub],
    w(Out, "hub", HubRecs ++
         [{"join_then_" ++ N, <<(hub_rec("cluster_join", get("cluster_join", Hub)))/binary,
                         R/binary>>} || {N, R} <- HubRecs] ++
         [{"global", rec(3, global_msgs())}]),
    w(Out, "ctrl", ctrl_seeds(Hub)),
    w(Out, "frame", frame_seeds(Hub)),
    w(Out, "handshake", handshake_seeds()),
    w(Out, "config", config_seeds()),
    w(Out, "tlsopts", tlsopts_seeds()),
    ok;
main(_) ->
    io:format(standard_error, "usage: gen_seeds.escript FIXTURES OUTDIR~n", []),
    halt(2).

read(F) -> {ok, B} = file:read_file(F), B.
get(N, L) -> proplists:get_value(N, L).
strip(<<131, B/binary>>) -> B.
enum(L) -> lists:zip(lists:seq(1, length(L)), L).
events(F) -> #{events := E} = binary_to_term(read(F)), E.

w(Out, Harness, Seeds) ->
    Dir = filename:join(Out, Harness),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    [ok = file:write_file(filename:join(Dir, N), B) || {N, B} <- Seeds].

rec(Target, Terms) ->
    << <<Target, (byte_size(B)):16, B/binary>> || B <- Terms >>.
hub_rec("start_" ++ _, B) -> rec(2, [B]);
hub_rec("stop_" ++ _, B) -> rec(2, [B]);
hub_rec("pg_" ++ _, B) -> rec(1, [B]);
hub_rec(_, B) -> rec(0, [B]).

global_msgs() ->
    [term_to_binary({'$gen_cast', {init_connect, {8, make_ref()}, N,
                                   {locker, no_longer_a_pid, [], self()}}})
     || N <- ['ph2@127.0.0.1', 'ph3@127.0.0.1']].

ctrl(Ctrl, Payload) ->
    C = term_to_binary(Ctrl),
    P = case Payload of none -> <<>>; _ -> term_to_binary(Payload) end,
    <<(byte_size(C)):16, (byte_size(P)):16, C/binary, P/binary>>.

ctrl_seeds(Hub) ->
    From = self(), Ref = make_ref(),
    Spawn = fun(M, F, A, Args) ->
                ctrl({29, Ref, From, From, {M, F, A}, [monitor]}, Args)
            end,
    Closures = [binary_to_term(B) || {"closure_" ++ _, B} <- Hub],
    [{"reg_" ++ N, ctrl({6, From, '', lab}, binary_to_term(B))}
     || {N, B} <- Hub] ++
    [{"spawn_apply" ++ integer_to_list(I), Spawn(erlang, apply, 2, [F, []])}
     || {I, F} <- enum(Closures)] ++
    [{"spawn_erpc" ++ integer_to_list(I),
      Spawn(erpc, execute_call, 4, [Ref, erlang, apply, [F, []]])}
     || {I, F} <- enum(Closures)] ++
    [{"link_exit", <<(ctrl({1, From, From}, none))/binary,
                     (ctrl({3, From, From, boom}, none))/binary>>},
     {"monitor", <<(ctrl({19, From, global_name_server, Ref}, none))/binary,
                   (ctrl({20, From, global_name_server, Ref}, none))/binary>>},
     {"global", << <<(ctrl({6, From, '', global_name_server},
                            binary_to_term(M)))/binary>>
                   || M <- global_msgs() >>}].

%% One packet per fixture in the fragment header form (131 68 0 ...), and
%% the same split into two fragments (131 69 / 131 70).
frame_seeds(Hub) ->
    Ctrl = strip(term_to_binary({6, self(), '', lab})),
    lists:append(
      [begin
           Body = <<Ctrl/binary, (strip(B))/binary>>,
           Whole = <<131, 68, 0, Body/binary>>,
           Half = byte_size(Body) div 2,
           <<B1:Half/binary, B2/binary>> = Body,
           F1 = <<131, 69, 7:64, 2:64, 0, B1/binary>>,
           F2 = <<131, 70, 7:64, 1:64, B2/binary>>,
           [{N, <<63, (byte_size(Whole)):32, Whole/binary>>},
            {"frag_" ++ N, <<63, (byte_size(F1)):32, F1/binary,
                             (byte_size(F2)):32, F2/binary, 0:32>>}]
       end || {N, B} <- lists:sublist(Hub, 8)]).

%% Both sides of a handshake with cookie "cookie", our challenge
%% 16#12345678 (fuzz_handshake.c), the peer's 16#0badcafe.
handshake_seeds() ->
    Flags = 16#0000000f07df7fbd, Name = <<"a@127.0.0.1">>,
    Dig = erlang:md5(["cookie", integer_to_list(16#12345678)]),
    N = <<$N, Flags:64, 16#0badcafe:32, 7:32, (byte_size(Name)):16,
          Name/binary>>,
    Init = <<$N, Flags:64, 7:32, (byte_size(Name)):16, Name/binary>>,
    Reply = <<$r, 16#0badcafe:32, Dig/binary>>,
    Ack = <<$a, Dig/binary>>,
    Msg = fun(B) -> <<(byte_size(B)):16, B/binary>> end,
    %% first byte: initiator bit, status; second: chunk size - 1
    [{"initiator", <<1, 255, (Msg(<<"sok">>))/binary, (Msg(N))/binary,
                     (Msg(Ack))/binary>>},
     {"initiator_chunked", <<1, 2, (Msg(<<"sok">>))/binary, (Msg(N))/binary,
                             (Msg(Ack))/binary>>},
     {"acceptor", <<0, 255, (Msg(Init))/binary, (Msg(Reply))/binary>>},
     {"acceptor_alive", <<6, 255, (Msg(Init))/binary, (Msg(<<"strue">>))/binary,
                          (Msg(Reply))/binary>>}].

config_seeds() ->
    [{"full", <<"{name, \"phc\"}.\n{cookie, \"c\"}.\n{hidden, true}.\n"
                "{loglevel, debug}.\n{connect, ['a@127.0.0.1']}.\n"
                "{hub, lab, [{discover_ms, 500}, {sync_ms, 1000}]}.\n"
                "{ring_otp, 26}.\n">>},
     {"hub", <<"{hub, lab}.\n{hub, \"other\", []}.\n">>},
     {"bad", <<"{loglevel, [1,2|3]}.\n">>}].

tlsopts_seeds() ->
    Side = "[{certfile, \"/c/cert.pem\"}, {keyfile, \"/c/key.pem\"}, "
           "{cacertfile, \"/c/ca.pem\"}, {verify, verify_peer}, {depth, 3}, "
           "{versions, ['tlsv1.2', 'tlsv1.3']}, {secure_renegotiate, true}",
    [{"full", list_to_binary("[{server, " ++ Side ++ ", {fail_if_no_peer_cert, true}]},\n"
                             " {client, " ++ Side ++ ", {server_name_indication, disable}]}].\n")},
     {"sni", <<"[{client, [{server_name_indication, \"host\"}, {password, \"pw\"}]}].\n">>},
     {"bad", <<"[{server, [{verify_fun, x}]}].\n">>}].

%% ---- crafted regression inputs -------------------------------------------

regress(Fix, Out) ->
    Ref = make_ref(), From = self(),
    Self = 'ph2@127.0.0.1', %% the fuzz node's own name (fuzz.h FZ_NODE)
    %% 1. global: an init_connect naming the node itself.
    Init = term_to_binary({'$gen_cast', {init_connect, {8, Ref}, Self,
                                         {locker, no_longer_a_pid, [], From}}}),
    w(Out, "hub", [{"global_init_connect_self", rec(3, [Init, Init])}]),
    %% 2. a spawn request whose NEW_FUN_EXT declares more free variables
    %% than it carries (and one declaring 2^32-1 of them).
    Fun = strip(read(filename:join([Fix, "hub", "closure_gossip.etf"]))),
    Apply = fun(F) -> ctrl_raw({29, Ref, From, From, {erlang, apply, 2}, []},
                               <<131, 108, 2:32, F/binary, 106, 106>>) end,
    w(Out, "ctrl", [{"spawn_fun_numfree_plus3", Apply(numfree(Fun, 3))},
                    {"spawn_fun_numfree_max", Apply(numfree(Fun, max))}]),
    w(Out, "term", [{"fun_numfree_plus3", numfree(Fun, 3)},
                    {"fun_numfree_max", numfree(Fun, max)},
    %% 3. ATOM_CACHE_REF, which phc never negotiates.
                    {"atom_cache_ref", <<104, 2, 82, 0, 106>>}]),
    Pid = strip(term_to_binary(From)), Lab = strip(term_to_binary(lab)),
    Msg = term_to_binary(hello),
    CacheRef = <<131, 104, 4, 97, 6, Pid/binary, 82, 0, Lab/binary>>,
    w(Out, "ctrl", [{"reg_send_atom_cache_ref",
                     <<(byte_size(CacheRef)):16, (byte_size(Msg)):16,
                       CacheRef/binary, Msg/binary>>}]),
    %% 4. a counter started with STRING_EXT arguments; long config atoms.
    Start = fun(Args) ->
                Cid = <<"c-1">>,
                term_to_binary(
                  {'$gen_cast',
                   {start_children,
                    [#{child_id => Cid, hub_id => lab, metadata => #{},
                       nodes => [Self],
                       child_spec => #{id => Cid,
                                       start => {phc_counter, start_link,
                                                 Args}}}],
                    [{reply_to, []}, {required_cids, [Cid]},
                     {collect_from, [Self]}, {await_timeout, 60000}]}})
            end,
    w(Out, "hub", [{"counter_string_args", rec(2, [Start(lists:seq(65, 90))])},
                   {"counter_string_arg", rec(2, [Start([lists:seq(65, 90)])])}]),
    Long = lists:duplicate(255, $a),
    w(Out, "config", [{"hidden_long_atom", iolist_to_binary(
                                             ["{hidden, '", Long, "'}.\n"])},
                      {"loglevel_long_atom", iolist_to_binary(
                                               ["{loglevel, '", Long, "'}.\n"])}]),
    %% 5. an empty fragment: a first fragment with no data, then the last.
    F1 = <<131, 69, 9:64, 2:64, 0>>, F2 = <<131, 70, 9:64, 1:64>>,
    w(Out, "frame", [{"empty_fragments", <<255, (byte_size(F1)):32, F1/binary,
                                           (byte_size(F2)):32, F2/binary>>}]),
    ok.

ctrl_raw(Ctrl, P) ->
    C = term_to_binary(Ctrl),
    <<(byte_size(C)):16, (byte_size(P)):16, C/binary, P/binary>>.

numfree(<<112, Size:32, Ar, Uniq:16/binary, Idx:32, N:32, Rest/binary>>, Add) ->
    N2 = case Add of max -> 16#ffffffff; _ -> N + Add end,
    <<112, Size:32, Ar, Uniq/binary, Idx:32, N2:32, Rest/binary>>.
