%% Signals between BEAM processes and phc's C children: monitors (DOWN
%% reasons normal, noproc, crash reasons, killed), links and exit signals
%% in both directions (including kill and trap_exit), and monitors that a
%% phc child holds on BEAM processes.
-module(phc_signals_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(phc_interop, [wait_until/2]).

-define(DOWN_TIMEOUT, 5000).

suite() -> [{timetrap, {seconds, 60}}].

all() ->
    [monitor_down_normal, monitor_down_noproc_dead_pid,
     monitor_down_noproc_unknown_name, monitor_down_crash_reason,
     demonitor_flush, monitor_many,
     link_beam_dies_when_child_crashes, link_trap_exit_gets_exit,
     link_normal_stop_does_not_kill, unlink_stops_propagation,
     exit_kill_gives_killed, exit_normal_ignored, exit_custom_reason,
     link_child_dies_when_beam_proc_crashes, link_child_dies_when_beam_proc_killed,
     link_beam_normal_exit_leaves_child,
     child_monitors_beam_process, child_monitor_on_dead_beam_pid].

init_per_suite(Config) ->
    phc_interop:init_suite(Config).

end_per_suite(_Config) -> ok.

init_per_testcase(_TC, Config) ->
    process_flag(trap_exit, false),
    Phc = phc_interop:start_phc(Config, phcs),
    [{phc, Phc}, {phc_node, maps:get(node, Phc)} | Config].

end_per_testcase(TC, Config) ->
    phc_basic_SUITE:end_per_testcase(TC, Config).

phc(Config) -> ?config(phc_node, Config).

down(Ref, Pid) ->
    receive {'DOWN', Ref, process, Pid, Reason} -> Reason
    after ?DOWN_TIMEOUT -> ct:fail({no_down, Pid})
    end.

%% A BEAM process that links to Pid, reports, then waits forever.
linked_beam_proc(Pid, TrapExit) ->
    Self = self(),
    P = spawn(fun() ->
                      process_flag(trap_exit, TrapExit),
                      link(Pid),
                      Self ! {linked, self()},
                      receive
                          {'EXIT', From, R} -> Self ! {got_exit, self(), From, R},
                                               receive stop -> ok end;
                          stop -> ok
                      end
              end),
    receive {linked, P} -> P after 2000 -> ct:fail(no_link) end.

%% Links are asynchronous: a round trip through the child makes sure the
%% LINK signal got there before we go on.
sync(Pid) -> _ = gen_server:call(Pid, get), ok.

%% ---------------------------------------------------------------------
%% Monitors set from the BEAM side

monitor_down_normal(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Ref = monitor(process, Pid),
    ?assertEqual(ok, gen_server:call(Pid, stop)),
    ?assertEqual(normal, down(Ref, Pid)).

monitor_down_noproc_dead_pid(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Ref0 = monitor(process, Pid),
    ok = gen_server:call(Pid, stop),
    normal = down(Ref0, Pid),
    Ref = monitor(process, Pid),
    ?assertEqual(noproc, down(Ref, Pid)).

monitor_down_noproc_unknown_name(Config) ->
    Phc = phc(Config),
    Ref = erlang:monitor(process, {nosuch, Phc}),
    receive {'DOWN', Ref, process, Who, Reason} ->
            ?assertEqual({nosuch, Phc}, Who),
            ?assertEqual(noproc, Reason)
    after ?DOWN_TIMEOUT -> ct:fail(no_down_for_unknown_name)
    end,
    %% a registered-name call to an unknown name fails the BEAM way
    ?assertMatch({'EXIT', {noproc, _}}, catch gen_server:call({nosuch, Phc}, x, 2000)).

monitor_down_crash_reason(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Ref = monitor(process, Pid),
    Reason = {boom, [1, 2, 3]},
    Res = catch gen_server:call(Pid, {crash, Reason}),
    ct:log("call {crash,_} -> ~p", [Res]),
    ?assertMatch({'EXIT', {Reason, {gen_server, call, _}}}, Res),
    ?assertEqual(Reason, down(Ref, Pid)).

demonitor_flush(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Ref = monitor(process, Pid),
    true = demonitor(Ref, [flush]),
    ok = gen_server:call(Pid, stop),
    %% a second monitor proves the process is gone ...
    Ref2 = monitor(process, Pid),
    _ = down(Ref2, Pid),
    %% ... and the first one did not fire
    receive {'DOWN', Ref, _, _, _} = M -> ct:fail({unexpected, M})
    after 500 -> ok
    end.

monitor_many(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Refs = [monitor(process, Pid) || _ <- lists:seq(1, 20)],
    ok = gen_server:call(Pid, stop),
    [?assertEqual(normal, down(R, Pid)) || R <- Refs].

%% ---------------------------------------------------------------------
%% Links: phc child -> BEAM process

link_beam_dies_when_child_crashes(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    B = linked_beam_proc(Pid, false),
    sync(Pid),
    BRef = monitor(process, B),
    _ = catch gen_server:call(Pid, {crash, boom}),
    ?assertEqual(boom, down(BRef, B)).

link_trap_exit_gets_exit(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    process_flag(trap_exit, true),
    true = link(Pid),
    sync(Pid),
    _ = catch gen_server:call(Pid, {crash, {shutdown, because}}),
    receive {'EXIT', Pid, R} -> ?assertEqual({shutdown, because}, R)
    after ?DOWN_TIMEOUT -> ct:fail(no_exit_message)
    end,
    process_flag(trap_exit, false).

link_normal_stop_does_not_kill(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    B = linked_beam_proc(Pid, false),
    sync(Pid),
    Ref = monitor(process, Pid),
    ok = gen_server:call(Pid, stop),
    normal = down(Ref, Pid),
    timer:sleep(200),
    ?assert(is_process_alive(B)),
    B ! stop.

unlink_stops_propagation(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    process_flag(trap_exit, true),
    true = link(Pid),
    sync(Pid),
    true = unlink(Pid),
    sync(Pid),
    Ref = monitor(process, Pid),
    _ = catch gen_server:call(Pid, {crash, boom}),
    boom = down(Ref, Pid),
    receive {'EXIT', Pid, _} = M -> ct:fail({unexpected, M})
    after 500 -> ok
    end,
    process_flag(trap_exit, false).

%% ---------------------------------------------------------------------
%% Exit signals: BEAM -> phc child

exit_kill_gives_killed(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Ref = monitor(process, Pid),
    true = exit(Pid, kill),
    ?assertEqual(killed, down(Ref, Pid)).

exit_normal_ignored(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    true = exit(Pid, normal),
    ?assertEqual(0, gen_server:call(Pid, get)),
    ?assertEqual(1, gen_server:call(Pid, {add, 1})).

exit_custom_reason(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    Ref = monitor(process, Pid),
    true = exit(Pid, {custom, "reason"}),
    ?assertEqual({custom, "reason"}, down(Ref, Pid)).

%% ---------------------------------------------------------------------
%% Links: BEAM process -> phc child

link_child_dies_when_beam_proc_crashes(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    B = linked_beam_proc(Pid, false),
    sync(Pid),
    Ref = monitor(process, Pid),
    exit(B, {beam_side, crash}),
    ?assertEqual({beam_side, crash}, down(Ref, Pid)).

link_child_dies_when_beam_proc_killed(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    B = linked_beam_proc(Pid, false),
    sync(Pid),
    Ref = monitor(process, Pid),
    exit(B, kill),
    %% B dies with reason killed, which reaches the linked child as killed
    ?assertEqual(killed, down(Ref, Pid)).

link_beam_normal_exit_leaves_child(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    B = linked_beam_proc(Pid, false),
    sync(Pid),
    BRef = monitor(process, B),
    B ! stop,
    normal = down(BRef, B),
    timer:sleep(200),
    ?assertEqual(0, gen_server:call(Pid, get)).

%% ---------------------------------------------------------------------
%% Monitors held by a phc child on BEAM processes

child_monitors_beam_process(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    ?assertEqual(none, gen_server:call(Pid, last_down)),
    B = spawn(fun() -> receive {die, R} -> exit(R) end end),
    _ = gen_server:call(Pid, {monitor, B}),
    sync(Pid),
    B ! {die, {went, away}},
    ?assertEqual(ok, wait_until(fun() ->
                                        gen_server:call(Pid, last_down) =:= {went, away}
                                end, ?DOWN_TIMEOUT)).

child_monitor_on_dead_beam_pid(Config) ->
    Pid = phc_interop:counter(phc(Config)),
    {B, Ref} = spawn_monitor(fun() -> ok end),
    normal = down(Ref, B),
    _ = gen_server:call(Pid, {monitor, B}),
    ?assertEqual(ok, wait_until(fun() ->
                                        gen_server:call(Pid, last_down) =:= noproc
                                end, ?DOWN_TIMEOUT)).
