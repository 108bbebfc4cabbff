%% phc_interop: helpers shared by the interop suites.
%%
%% Owns the lifecycle of what the suites start: the phc-node OS processes
%% (started from $PHC_NODE, tracked by OS pid, killed only by that pid) and
%% peer BEAM nodes (OTP's `peer`, over standard_io so they work even with a
%% cookie the test node does not share). It also makes the Common Test node
%% itself a distributed node on 127.0.0.1 with the suite cookie and a short
%% net_ticktime, whichever runner (ct_run or rebar3 ct) started it.
-module(phc_interop).

-export([init_suite/1, cookie/0, ticktime/0, ensure_dist/0, phc_path/0,
         start_phc/2, start_phc/3, stop_phc/1, signal_phc/2, phc_alive/1,
         wait_exit/2, phc_log/1, sanitizer_report/1,
         start_peer/1, start_peer/2, stop_peer/1, peer_os_pid/1, os_signal/2,
         wait_until/2, unique_name/1, flush/0, counter/1]).

-define(COOKIE, phc_interop).
-define(TICKTIME, 4).

cookie() -> ?COOKIE.
ticktime() -> ?TICKTIME.

%% ---------------------------------------------------------------------
%% The test node

ensure_dist() ->
    ensure_epmd(),
    case node() of
        nonode@nohost ->
            {ok, _} = net_kernel:start(unique_name("ct"),
                                       #{name_domain => longnames,
                                         net_ticktime => ?TICKTIME});
        _ ->
            case net_kernel:get_net_ticktime() of
                ?TICKTIME -> ok;
                _ -> _ = net_kernel:set_net_ticktime(?TICKTIME, 0), ok
            end
    end,
    true = erlang:set_cookie(?COOKIE),
    %% Peers and phc nodes are named x@127.0.0.1: the test node must use
    %% long names.
    true = net_kernel:longnames(),
    ok.

%% erl starts an epmd on all interfaces when none runs; start a loopback
%% one first. (test/interop/run starts and stops its own; this is for
%% runners such as `rebar3 ct` that did not.)
ensure_epmd() ->
    case erl_epmd:names("127.0.0.1") of
        {ok, _} -> ok;
        _ ->
            _ = os:cmd("epmd -address 127.0.0.1 -daemon"),
            wait_until(fun() -> element(1, erl_epmd:names("127.0.0.1")) =:= ok end,
                       5000)
    end.

%% $PHC_NODE, else build/phc-node next to this source tree.
phc_path() ->
    case os:getenv("PHC_NODE", "") of
        "" -> filename:join([repo_root(), "build", "phc-node"]);
        P -> P
    end.

%% The source tree: two levels above this file, or, when rebar3 compiled a
%% copy under _build/, the directory that holds _build.
repo_root() ->
    Parts = filename:split(filename:absname(?FILE)),
    case lists:splitwith(fun(P) -> P =/= "_build" end, Parts) of
        {Root, ["_build" | _]} -> filename:join(Root);
        _ -> filename:join(lists:sublist(Parts, length(Parts) - 3))
    end.

unique_name(Prefix) ->
    N = erlang:unique_integer([positive]),
    list_to_atom(lists:flatten(io_lib:format("~s_~s_~w@127.0.0.1",
                                             [Prefix, os:getpid(), N]))).

%% ---------------------------------------------------------------------
%% phc-node OS processes

%% start_phc(Config, Name) / start_phc(Config, Name, Opts)
%%   Name: node atom or a short prefix (a unique name is made from it).
%%   Opts: #{args => [string()] (extra flags), cookie => atom(),
%%           ping => boolean() (default true: wait until it answers),
%%           ticktime => integer()}
%% Returns #{node, os_pid, keeper, log}.
start_phc(Config, Name) -> start_phc(Config, Name, #{}).

start_phc(Config, Prefix, Opts) ->
    Exe = phc_path(),
    case filelib:is_regular(Exe) of
        true -> ok;
        false -> ct:fail({phc_node_missing, Exe})
    end,
    Node = case lists:member($@, atom_to_list(Prefix)) of
               true -> Prefix;
               false -> unique_name(Prefix)
           end,
    Cookie = maps:get(cookie, Opts, ?COOKIE),
    Tick = maps:get(ticktime, Opts, ?TICKTIME),
    Args = ["-name", atom_to_list(Node), "-setcookie", atom_to_list(Cookie),
            "-kernel", "net_ticktime", integer_to_list(Tick),
            "-loglevel", maps:get(loglevel, Opts, "info")]
        ++ maps:get(args, Opts, []),
    Dir = case Config of
              [_ | _] -> proplists:get_value(priv_dir, Config, "/tmp");
              _ -> "/tmp"
          end,
    Log = filename:join(Dir, atom_to_list(Node) ++ ".log"),
    Self = self(),
    Keeper = spawn(fun() -> keeper(Self, Exe, Args, Log) end),
    OsPid = receive
                {Keeper, os_pid, P} -> P
            after 5000 -> ct:fail(phc_start_timeout)
            end,
    Phc = #{node => Node, os_pid => OsPid, keeper => Keeper, log => Log,
            args => Args},
    ct:log("started phc-node ~s (os pid ~s) args ~p, log ~s",
           [Node, OsPid, Args, Log]),
    case maps:get(ping, Opts, true) of
        true ->
            case wait_until(fun() -> net_adm:ping(Node) =:= pong end, 10000) of
                ok -> Phc;
                timeout ->
                    ct:log("phc log:~n~s", [phc_log(Phc)]),
                    stop_phc(Phc),
                    ct:fail({phc_no_pong, Node})
            end;
        false ->
            Phc
    end.

%% The keeper owns the port so that the port (and our view of the exit
%% status) outlives the process that called start_phc. The shell `exec`s
%% phc-node, so the os pid is phc-node's own.
keeper(Parent, Exe, Args, Log) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" >>\"$PHC_LOG\" 2>&1 </dev/null",
                              Exe | Args]},
                      {env, [{"PHC_LOG", Log}]},
                      exit_status, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Parent ! {self(), os_pid, integer_to_list(OsPid)},
    keeper_loop(Port, undefined, []).

keeper_loop(Port, Status, Waiters) ->
    receive
        {Port, {exit_status, S}} ->
            [W ! {self(), exited, S} || W <- Waiters],
            keeper_loop(Port, S, []);
        {Port, {data, _}} ->
            keeper_loop(Port, Status, Waiters);
        {wait, From} when Status =/= undefined ->
            From ! {self(), exited, Status},
            keeper_loop(Port, Status, Waiters);
        {wait, From} ->
            keeper_loop(Port, Status, [From | Waiters]);
        {status, From} ->
            From ! {self(), status, Status},
            keeper_loop(Port, Status, Waiters)
    end.

phc_alive(#{keeper := K}) ->
    K ! {status, self()},
    receive {K, status, S} -> S =:= undefined after 2000 -> false end.

%% wait_exit(Phc, Timeout) -> {exited, Status} | timeout
wait_exit(#{keeper := K}, Timeout) ->
    K ! {wait, self()},
    receive {K, exited, S} -> {exited, S} after Timeout -> timeout end.

signal_phc(#{os_pid := P}, Sig) -> os_signal(P, Sig).

os_signal(OsPid, Sig) when is_integer(OsPid) -> os_signal(integer_to_list(OsPid), Sig);
os_signal(OsPid, Sig) ->
    _ = os:cmd("kill -" ++ Sig ++ " " ++ OsPid ++ " 2>/dev/null"),
    ok.

%% Graceful stop (SIGTERM), then SIGKILL if it does not exit within 5 s.
%% Returns {exited, Status} | killed.
stop_phc(Phc) ->
    case phc_alive(Phc) of
        false -> wait_exit(Phc, 1000);
        true ->
            signal_phc(Phc, "CONT"),
            signal_phc(Phc, "TERM"),
            case wait_exit(Phc, 5000) of
                {exited, S} -> {exited, S};
                timeout ->
                    signal_phc(Phc, "KILL"),
                    _ = wait_exit(Phc, 5000),
                    killed
            end
    end.

phc_log(#{log := Log}) ->
    case file:read_file(Log) of
        {ok, B} -> B;
        _ -> <<>>
    end.

%% Any AddressSanitizer / UBSan / LeakSanitizer report in phc's log.
sanitizer_report(Phc) ->
    Log = phc_log(Phc),
    Pats = [<<"ERROR: AddressSanitizer">>, <<"ERROR: LeakSanitizer">>,
            <<"runtime error:">>, <<"SUMMARY: UndefinedBehaviorSanitizer">>],
    case [P || P <- Pats, binary:match(Log, P) =/= nomatch] of
        [] -> none;
        Found -> {found, Found}
    end.

%% ---------------------------------------------------------------------
%% Peer BEAM nodes

start_peer(Prefix) -> start_peer(Prefix, #{}).

%% Opts: #{cookie => atom(), ticktime => integer(), args => [string()]}
start_peer(Prefix, Opts) ->
    Name = unique_name(Prefix),
    [Alive, _] = string:split(atom_to_list(Name), "@"),
    Cookie = maps:get(cookie, Opts, ?COOKIE),
    Tick = maps:get(ticktime, Opts, ?TICKTIME),
    {ok, Peer, Node} =
        peer:start(#{name => Alive, host => "127.0.0.1", longnames => true,
                     connection => standard_io,
                     args => ["-setcookie", atom_to_list(Cookie),
                              "-kernel", "net_ticktime", integer_to_list(Tick),
                              "-pa", filename:dirname(code:which(?MODULE))]
                         ++ maps:get(args, Opts, [])}),
    ct:log("started peer ~s", [Node]),
    {Peer, Node}.

stop_peer({Peer, _Node}) ->
    catch peer:stop(Peer), ok.

peer_os_pid({Peer, _}) ->
    peer:call(Peer, os, getpid, []).

%% ---------------------------------------------------------------------
%% Small things

%% wait_until(Fun, TimeoutMs) -> ok | timeout; polls every 50 ms.
wait_until(F, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_until_loop(F, Deadline).

wait_until_loop(F, Deadline) ->
    case catch F() of
        true -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> timeout;
                false -> timer:sleep(50), wait_until_loop(F, Deadline)
            end
    end.

flush() ->
    receive _ -> flush() after 0 -> ok end.

%% A fresh phc_counter on Node, started through rpc as users would.
counter(Node) ->
    {ok, Pid} = rpc:call(Node, phc_counter, start, [0]),
    true = is_pid(Pid),
    Node = node(Pid),
    Pid.

%% init_per_suite of every suite: distribution up, and skip (with the path)
%% when phc-node is not built.
init_suite(Config) ->
    ok = ensure_dist(),
    Exe = phc_path(),
    case filelib:is_regular(Exe) of
        true -> Config;
        false -> {skip, {phc_node_not_built, Exe}}
    end.
