%% TLS distribution (OTP's inet_tls): phc-node started with
%% -proto_dist inet_tls -ssl_dist_optfile F and real OTP nodes started the
%% same way, with mutual certificates the suite makes with the openssl CLI
%% (a CA and a leaf for 127.0.0.1; a rogue CA and a leaf it signed). A BEAM
%% node pings phc and phc connects to a BEAM node; rpc, erpc, gen_server
%% calls, casts and sends to a phc child work over TLS; a BEAM node with a
%% certificate from another CA, one without a certificate, and a plain-TCP
%% node are each refused with one log line while a good peer keeps working;
%% phc refuses a server whose certificate it cannot verify.
%%
%% The Common Test node itself speaks plain TCP, so everything that talks to
%% phc runs on peers (OTP's peer over standard_io).
-module(phc_tls_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(phc_interop, [wait_until/2]).

suite() -> [{timetrap, {seconds, 120}}].

all() ->
    [beam_pings_phc, phc_connects_to_beam, basics_over_tls,
     bad_certificate_refused, no_certificate_refused, plain_tcp_refused,
     phc_refuses_bad_server, config_file_keys, bad_optfile_exits_2].

init_per_suite(Config) ->
    case phc_interop:init_suite(Config) of
        {skip, _} = Skip -> Skip;
        Config1 ->
            case os:find_executable("openssl") of
                false -> {skip, openssl_cli_not_found};
                _ -> make_certs(Config1)
            end
    end.

end_per_suite(_Config) -> ok.

init_per_testcase(_TC, Config) -> Config.

%% Stops what the case started; a sanitizer report in a phc log (leaks are
%% reported at exit) fails the case.
end_per_testcase(_TC, _Config) ->
    Started = get_started(),
    erase(started),
    [phc_interop:stop_peer(P) || {peer, P} <- Started],
    Results = [{maps:get(node, P), phc_interop:stop_phc(P),
                phc_interop:sanitizer_report(P)} || {phc, P} <- Started],
    [ct:log("phc log ~s:~n~s", [maps:get(node, P), phc_interop:phc_log(P)])
     || {phc, P} <- Started],
    case [R || {_, _, {found, _}} = R <- Results] of
        [] -> ok;
        Bad -> {fail, {sanitizer_report, Bad}}
    end.

%% ---------------------------------------------------------------------
%% Certificates and optfiles

make_certs(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "tls"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Ext = filename:join(Dir, "ext.cnf"),
    %% OTP checks the host as a DNS name, OpenSSL as an IP address
    ok = file:write_file(Ext, "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,"
                              "DNS:localhost\n"),
    K = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes",
    [sh(Dir, ["openssl req -x509 ", K, " -keyout ", Ca, ".key -out ", Ca,
              ".pem -days 2 -subj /CN=", Ca])
     || Ca <- ["ca", "rogue"]],
    [begin
         sh(Dir, ["openssl req ", K, " -keyout ", Leaf, ".key -out ", Leaf,
                  ".csr -subj /CN=127.0.0.1"]),
         sh(Dir, ["openssl x509 -req -in ", Leaf, ".csr -CA ", Ca, ".pem -CAkey ",
                  Ca, ".key -CAcreateserial -out ", Leaf, ".pem -days 2 -extfile ",
                  Ext])
     end || {Leaf, Ca} <- [{"good", "ca"}, {"bad", "rogue"}]],
    [{good, optfile(Dir, "good", "good")},
     {bad, optfile(Dir, "bad", "bad")},
     {nocert, optfile(Dir, "nocert", none)},
     {tls_dir, Dir} | Config].

sh(Dir, Cmd) ->
    Out = os:cmd(lists:flatten(["cd ", Dir, " && ", Cmd, " 2>&1; echo rc=$?"])),
    case lists:suffix("rc=0\n", Out) of
        true -> ok;
        false -> ct:fail({command_failed, lists:flatten(Cmd), Out})
    end.

%% Both sides verify the peer against ca.pem; the server refuses a client
%% without a certificate. Leaf none: the client has no certificate.
optfile(Dir, Name, Leaf) ->
    F = fun(X) -> filename:join(Dir, X) end,
    Own = case Leaf of
              none -> [];
              _ -> [{certfile, F(Leaf ++ ".pem")}, {keyfile, F(Leaf ++ ".key")}]
          end,
    Server = [X || Leaf =:= none,
                   X <- [{certfile, F("good.pem")}, {keyfile, F("good.key")}]]
        ++ Own ++
        [{cacertfile, F("ca.pem")}, {verify, verify_peer},
         {fail_if_no_peer_cert, true}],
    Client = Own ++ [{cacertfile, F("ca.pem")}, {verify, verify_peer}],
    Path = F(Name ++ ".conf"),
    ok = file:write_file(Path, io_lib:format("~p.~n", [[{server, Server},
                                                         {client, Client}]])),
    Path.

%% ---------------------------------------------------------------------
%% Nodes

started(What) -> put(started, [What | get_started()]).
get_started() -> case get(started) of undefined -> []; L -> L end.

tls_args(File) -> ["-proto_dist", "inet_tls", "-ssl_dist_optfile", File].

start_phc(Config) -> start_phc(Config, []).
start_phc(Config, Extra) ->
    Phc = phc_interop:start_phc(Config, phct,
                                #{args => tls_args(?config(good, Config)) ++ Extra,
                                  ping => false}),
    started({phc, Phc}),
    %% up once it has registered with epmd
    [Alive, _] = string:split(atom_to_list(maps:get(node, Phc)), "@"),
    ok = wait_until(fun() -> registered(Alive) end, 10000),
    Phc.

registered(Alive) ->
    {ok, Names} = erl_epmd:names("127.0.0.1"),
    lists:keymember(Alive, 1, Names).

start_peer(Config, Optfile, Prefix) ->
    P = phc_interop:start_peer(Prefix, #{args => tls_args(?config(Optfile, Config))}),
    started({peer, P}),
    P.

pcall({Peer, _}, M, F, A) -> peer:call(Peer, M, F, A, 30000).

tls_lines(Phc) ->
    Lines = string:split(phc_interop:phc_log(Phc), "\n", all),
    [L || L <- Lines, string:find(L, "TLS") =/= nomatch].

%% ---------------------------------------------------------------------

beam_pings_phc(Config) ->
    Phc = start_phc(Config),
    Node = maps:get(node, Phc),
    P = start_peer(Config, good, tlsa),
    ?assertEqual(pong, pcall(P, net_adm, ping, [Node])),
    ?assert(lists:member(Node, pcall(P, erlang, nodes, []))),
    ?assertEqual([], tls_lines(Phc)).

phc_connects_to_beam(Config) ->
    P = {_, PNode} = start_peer(Config, good, tlsb),
    Phc = start_phc(Config, ["-connect", atom_to_list(PNode)]),
    Node = maps:get(node, Phc),
    ok = wait_until(fun() -> lists:member(Node, pcall(P, erlang, nodes, [])) end,
                    10000),
    ?assertEqual(Node, pcall(P, erpc, call, [Node, erlang, node, []])),
    ?assertEqual([], tls_lines(Phc)).

basics_over_tls(Config) ->
    Phc = start_phc(Config),
    P = start_peer(Config, good, tlsc),
    ?assertEqual(ok, pcall(P, ?MODULE, basics, [maps:get(node, Phc)])).

%% Runs on a TLS peer.
basics(Phc) ->
    Phc = rpc:call(Phc, erlang, node, []),
    Phc = erpc:call(Phc, erlang, node, []),
    {ok, Pid} = rpc:call(Phc, phc_counter, start, [0]),
    Phc = node(Pid),
    2 = gen_server:call(Pid, {add, 2}),
    ok = gen_server:cast(Pid, {add, 3}),
    Pid ! {add, 1},
    6 = gen_server:call(Pid, get),
    [Pid ! {add, 1} || _ <- lists:seq(1, 1000)],
    1006 = gen_server:call(Pid, get),
    %% messages larger than a TLS record, both ways
    {ok, Echo} = erpc:call(Phc, phc_echo, start, [[]]),
    Big = binary:copy(<<"x">>, 1000000),
    {big, Big} = gen_server:call(Echo, {big, Big}, 10000),
    ok.

%% A certificate signed by another CA: refused with one line; a good peer
%% still works, before and after.
bad_certificate_refused(Config) ->
    Phc = start_phc(Config),
    Node = maps:get(node, Phc),
    Good = start_peer(Config, good, tlsgood),
    ?assertEqual(pong, pcall(Good, net_adm, ping, [Node])),
    Bad = start_peer(Config, bad, tlsbad),
    ?assertEqual(pang, pcall(Bad, net_adm, ping, [Node])),
    ok = wait_until(fun() -> length(tls_lines(Phc)) >= 1 end, 5000),
    timer:sleep(300),
    [Line] = tls_lines(Phc),
    ?assertNotEqual(nomatch, string:find(Line, "certificate verify failed")),
    ?assertEqual(pong, pcall(Good, net_adm, ping, [Node])),
    ?assertEqual(Node, pcall(Good, erpc, call, [Node, erlang, node, []])),
    Good2 = start_peer(Config, good, tlsgood2),
    ?assertEqual(pong, pcall(Good2, net_adm, ping, [Node])).

%% No certificate at all (fail_if_no_peer_cert): refused with one line.
no_certificate_refused(Config) ->
    Phc = start_phc(Config),
    Node = maps:get(node, Phc),
    NoCert = start_peer(Config, nocert, tlsnocert),
    ?assertEqual(pang, pcall(NoCert, net_adm, ping, [Node])),
    ok = wait_until(fun() -> length(tls_lines(Phc)) >= 1 end, 5000),
    timer:sleep(300),
    ?assertMatch([_], tls_lines(Phc)),
    Good = start_peer(Config, good, tlsgood),
    ?assertEqual(pong, pcall(Good, net_adm, ping, [Node])).

%% A plain-TCP node: the TLS handshake fails at its first byte.
plain_tcp_refused(Config) ->
    Phc = start_phc(Config),
    Node = maps:get(node, Phc),
    Plain = phc_interop:start_peer(tlsplain),
    started({peer, Plain}),
    ?assertEqual(pang, pcall(Plain, net_adm, ping, [Node])),
    ok = wait_until(fun() -> length(tls_lines(Phc)) >= 1 end, 5000),
    Good = start_peer(Config, good, tlsgood),
    ?assertEqual(pong, pcall(Good, net_adm, ping, [Node])).

%% phc as the client: a server with a certificate from another CA is
%% refused (one line naming the node), and phc goes on.
phc_refuses_bad_server(Config) ->
    {_, BadNode} = start_peer(Config, bad, tlsbadsrv),
    Phc = start_phc(Config, ["-connect", atom_to_list(BadNode)]),
    ok = wait_until(fun() -> length(tls_lines(Phc)) >= 1 end, 10000),
    [Line] = tls_lines(Phc),
    ?assertNotEqual(nomatch, string:find(Line, atom_to_list(BadNode))),
    ?assertNotEqual(nomatch, string:find(Line, "certificate verify failed")),
    Good = start_peer(Config, good, tlsgood),
    ?assertEqual(pong, pcall(Good, net_adm, ping, [maps:get(node, Phc)])).

%% {proto_dist, inet_tls} and {ssl_dist_optfile, F} in the config file.
config_file_keys(Config) ->
    Cfg = filename:join(?config(tls_dir, Config), "phc.config"),
    ok = file:write_file(Cfg, io_lib:format("{proto_dist, inet_tls}.~n"
                                            "{ssl_dist_optfile, ~p}.~n",
                                            [?config(good, Config)])),
    Phc = phc_interop:start_phc(Config, phcc, #{args => ["-config", Cfg],
                                                ping => false}),
    started({phc, Phc}),
    Node = maps:get(node, Phc),
    P = start_peer(Config, good, tlscfg),
    ok = wait_until(fun() -> pcall(P, net_adm, ping, [Node]) =:= pong end, 10000),
    %% the plain-TCP test node cannot reach it
    ?assertEqual(pang, net_adm:ping(Node)).

%% A bad optfile: phc-node names the problem and exits with 2.
bad_optfile_exits_2(Config) ->
    Dir = ?config(tls_dir, Config),
    Cases = [{"unknown.conf", "[{server, [{verify_fun, x}]}].", "verify_fun"},
             {"value.conf", "[{client, [{verify, maybe}]}].", "verify"},
             {"side.conf", "[{middle, []}].", "server"},
             {"nofile.conf", "[{server, [{certfile, \"/nonexistent.pem\"}]}].",
              "certfile"}],
    [begin
         F = filename:join(Dir, Name),
         ok = file:write_file(F, Text),
         Out = os:cmd(lists:flatten(
                        [phc_interop:phc_path(), " -name tlsbad@127.0.0.1",
                         " -proto_dist inet_tls -ssl_dist_optfile ", F,
                         " 2>&1; echo rc=$?"])),
         ct:log("~s:~n~s", [Name, Out]),
         ?assertNotEqual(nomatch, string:find(Out, Needle)),
         ?assert(lists:suffix("rc=2\n", Out))
     end || {Name, Text, Needle} <- Cases],
    Out = os:cmd(phc_interop:phc_path() ++ " -name tlsbad@127.0.0.1"
                 " -proto_dist inet_tls 2>&1; echo rc=$?"),
    ?assertNotEqual(nomatch, string:find(Out, "ssl_dist_optfile")),
    ?assert(lists:suffix("rc=2\n", Out)).
