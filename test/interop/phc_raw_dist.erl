%% phc_raw_dist: a minimal, hand-written Erlang distribution client used by
%% the interop suites to misbehave on purpose.
%%
%% It performs the real OTP 23+ handshake (the "N" variant of the ERTS
%% "Distribution Protocol" chapter: send_name, recv_status,
%% recv_challenge, send_challenge_reply, recv_challenge_ack) as a *hidden*
%% node, with a cookie of the caller's choice, and then hands back the raw
%% socket so a test can send whatever it likes on the established
%% connection (garbage frames, for instance) and watch how the peer reacts.
%%
%% Nothing here depends on phc: the same client works against a real
%% `erl` node, which is how the suites check the client itself.
-module(phc_raw_dist).

-export([connect/3, connect/4, send_frame/2, send_raw/2,
         await_closed/2, close/1, digest/2]).

%% Flags from kernel/include/dist.hrl (OTP 25).
-define(DFLAG_EXTENDED_REFERENCES, 16#04).
-define(DFLAG_FUN_TAGS,            16#10).
-define(DFLAG_NEW_FUN_TAGS,        16#80).
-define(DFLAG_EXTENDED_PIDS_PORTS, 16#100).
-define(DFLAG_EXPORT_PTR_TAG,      16#200).
-define(DFLAG_BIT_BINARIES,        16#400).
-define(DFLAG_NEW_FLOATS,          16#800).
-define(DFLAG_UTF8_ATOMS,          16#10000).
-define(DFLAG_MAP_TAG,             16#20000).
-define(DFLAG_BIG_CREATION,        16#40000).
-define(DFLAG_HANDSHAKE_23,        16#01000000).
-define(DFLAG_MANDATORY_25_DIGEST, 16#04000000).

%% A hidden node (no DFLAG_PUBLISHED) that offers exactly the flags an
%% OTP 25 node insists on.
-define(MY_FLAGS,
        (?DFLAG_EXTENDED_REFERENCES bor ?DFLAG_FUN_TAGS bor
         ?DFLAG_NEW_FUN_TAGS bor ?DFLAG_EXTENDED_PIDS_PORTS bor
         ?DFLAG_EXPORT_PTR_TAG bor ?DFLAG_BIT_BINARIES bor
         ?DFLAG_NEW_FLOATS bor ?DFLAG_UTF8_ATOMS bor ?DFLAG_MAP_TAG bor
         ?DFLAG_BIG_CREATION bor ?DFLAG_HANDSHAKE_23 bor
         ?DFLAG_MANDATORY_25_DIGEST)).

-define(TIMEOUT, 5000).

%% connect(Target, MyName, Cookie) -> {ok, Conn} | {error, {Stage, Reason}}
%%   Target: node atom to connect to (looked up through epmd).
%%   MyName: the node name this client claims ('x@127.0.0.1').
%%   Cookie: atom.
%%   Conn:   #{socket, peer_flags, peer_creation, peer_name}.
connect(Target, MyName, Cookie) ->
    connect(Target, MyName, Cookie, #{}).

connect(Target, MyName, Cookie, Opts) ->
    [Alive, Host] = string:split(atom_to_list(Target), "@"),
    case erl_epmd:port_please(Alive, Host, ?TIMEOUT) of
        {port, Port, _Version} ->
            handshake(Host, Port, MyName, Cookie, Opts);
        Other ->
            {error, {epmd, Other}}
    end.

handshake(Host, Port, MyName, Cookie, Opts) ->
    {ok, Ip} = inet:parse_address(Host),
    case gen_tcp:connect(Ip, Port, [binary, {packet, 2}, {active, false},
                                    {nodelay, true}], ?TIMEOUT) of
        {ok, S} ->
            Result = handshake_steps(S, MyName, Cookie, Opts),
            case Result of
                {ok, _} -> Result;
                _ -> gen_tcp:close(S), Result
            end;
        {error, R} ->
            {error, {tcp_connect, R}}
    end.

handshake_steps(S, MyName, Cookie, Opts) ->
    Flags = maps:get(flags, Opts, ?MY_FLAGS),
    Name = atom_to_binary(MyName, utf8),
    Creation = maps:get(creation, Opts, 16#5ea1ed00 + rand:uniform(255)),
    ok = gen_tcp:send(S, <<$N, Flags:64, Creation:32,
                           (byte_size(Name)):16, Name/binary>>),
    maybe([fun() -> recv_status(S) end,
           fun(_) -> recv_challenge(S) end,
           fun({PFlags, Challenge, PCreation, PName}) ->
                   MyChallenge = rand:uniform(16#ffffffff) - 1,
                   ok = gen_tcp:send(S, [<<$r, MyChallenge:32>>,
                                         digest(Challenge, Cookie)]),
                   case recv_ack(S, MyChallenge, Cookie) of
                       ok ->
                           ok = inet:setopts(S, [{packet, 4}]),
                           {ok, #{socket => S, peer_flags => PFlags,
                                  peer_creation => PCreation,
                                  peer_name => PName}};
                       Err -> Err
                   end
           end]).

maybe([F | Rest]) -> step(F(), Rest).
step({ok, V}, [F | Rest]) -> step(F(V), Rest);
step(Last, []) -> Last;
step(Err, _) -> Err.

recv_status(S) ->
    case gen_tcp:recv(S, 0, ?TIMEOUT) of
        {ok, <<$s, "ok">>} -> {ok, ok};
        {ok, <<$s, "ok_simultaneous">>} -> {ok, ok};
        {ok, <<$s, Other/binary>>} -> {error, {status, binary_to_list(Other)}};
        {ok, Other} -> {error, {status, Other}};
        {error, R} -> {error, {status, R}}
    end.

recv_challenge(S) ->
    case gen_tcp:recv(S, 0, ?TIMEOUT) of
        {ok, <<$N, Flags:64, Challenge:32, Creation:32, NLen:16,
               Name:NLen/binary, _/binary>>} ->
            {ok, {Flags, Challenge, Creation, binary_to_atom(Name, utf8)}};
        {ok, Other} -> {error, {challenge, Other}};
        {error, R} -> {error, {challenge, R}}
    end.

recv_ack(S, MyChallenge, Cookie) ->
    Expected = digest(MyChallenge, Cookie),
    case gen_tcp:recv(S, 0, ?TIMEOUT) of
        {ok, <<$a, Expected:16/binary>>} -> ok;
        {ok, <<$a, _:16/binary>>} -> {error, {challenge_ack, bad_digest}};
        {ok, Other} -> {error, {challenge_ack, Other}};
        {error, R} -> {error, {challenge_ack, R}}
    end.

%% The handshake digest: MD5 of the cookie followed by the challenge
%% written as an unsigned decimal number (dist_util:gen_digest/2).
digest(Challenge, Cookie) when is_atom(Cookie) ->
    erlang:md5([atom_to_list(Cookie), integer_to_list(Challenge)]).

%% Send one length-prefixed frame (packet 4) on an established connection.
send_frame(#{socket := S}, Payload) ->
    gen_tcp:send(S, Payload).

%% Send raw bytes, bypassing framing: switch the socket to raw mode first.
send_raw(#{socket := S}, Bytes) ->
    ok = inet:setopts(S, [{packet, raw}]),
    gen_tcp:send(S, Bytes).

%% Wait until the peer closes the connection, answering nothing and
%% discarding whatever arrives (ticks, for example).
%% Returns closed | still_open.
await_closed(#{socket := S}, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    await_closed_loop(S, Deadline).

await_closed_loop(S, Deadline) ->
    Left = Deadline - erlang:monotonic_time(millisecond),
    case Left =< 0 of
        true -> still_open;
        false ->
            case gen_tcp:recv(S, 0, Left) of
                {ok, _} -> await_closed_loop(S, Deadline);
                {error, timeout} -> still_open;
                {error, _} -> closed
            end
    end.

close(#{socket := S}) -> gen_tcp:close(S).
