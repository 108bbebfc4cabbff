%% Hub interop without ProcessHub: phc-node -hub my_hub against a plain
%% OTP 25 node that runs OTP's own `pg` on the hub's scope
%% 'hub.my_hub.event_queue_pg' and a fake coordinator (phc_hub_fake)
%% registered as my_hub in the blockade groups.
%%
%% Covers: pg membership seen both ways (the BEAM scope lists phc's
%% coordinator in all eight groups; phc adds the BEAM node to its hub
%% nodes); nodedown cleanup (kill -9 of the BEAM node: phc drops the node
%% and redistributes its rows); cluster_leave_event / cluster_join_event;
%% phc's own leave as seen from the BEAM scope; the captured event shapes
%% sent to phc's coordinator (children_registration_event,
%% children_unregistration_event, child_process_pid_update_event,
%% sync_remote_children_event) with assertions on phc's registry through
%% erpc ('Elixir.ProcessHub':process_list/2, registry_dump/1,
%% child_lookup/3, tag_query/2, get_pids/2); start_children and
%% stop_children casts (collect_start_results / collect_stop_results, the
%% PostStartData phc dispatches, undef, already_started, forwarding to the
%% ring owner); malformed events dropped with phc up and the registry
%% unchanged; HotSwap handover (a C child taking and giving its state, the
%% confirmation, the graceful leave's exec_cast of its children's states). Terms are written as ProcessHub 0.4.1 sends them
%% (docs/processhub-wire-protocol.md: "Message catalogue", "Flows" and
%% "Data shapes").
-module(phc_hub_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(phc_interop, [wait_until/2]).

-define(HUB, my_hub).
-define(PSD, 'Elixir.ProcessHub.Handler.ChildrenAdd.PostStartData').
-define(PH, 'Elixir.ProcessHub').
-define(HOTSWAP, 'Elixir.ProcessHub.Strategy.Migration.HotSwap').

%% Selective receive of a message matching Pat (variables bound outside are
%% matched, new ones stay local); returns the message.
-define(RECV(Pat), ?RECV(Pat, 5000)).
-define(RECV(Pat, T),
        (fun() ->
                 receive Pat = RecvMsg__ -> RecvMsg__
                 after T -> recv_timeout(??Pat)
                 end
         end)()).

suite() -> [{timetrap, {seconds, 60}}].

all() ->
    [pg_membership_both_ways, cluster_join_and_leave_events,
     nodedown_cleanup, scope_down_drops_members, phc_leave_seen_on_beam,
     coordinator_calls,
     registration_event_adds_rows, unregistration_event_removes_sender_node,
     pid_update_event_changes_pid, pid_update_unknown_cid_dropped,
     sync_remote_children_event_merges, start_children_cast,
     stop_children_cast, start_unknown_module_undef,
     start_duplicate_already_started, start_forwards_to_ring_owner,
     malformed_events_dropped, empty_migration_does_not_lock,
     hot_swap_handover_to_phc, hot_swap_leave_sends_states,
     periodic_sync_to_rex].

%% Cases where the fake coordinator joins cluster_join_event too, so phc
%% takes the BEAM node into its hub nodes and ring. In the others phc is
%% the only ring member and owns every child.
beam_in_hub(TC) ->
    lists:member(TC, [pg_membership_both_ways, cluster_join_and_leave_events,
                      nodedown_cleanup, scope_down_drops_members,
                      phc_leave_seen_on_beam, start_forwards_to_ring_owner,
                      hot_swap_leave_sends_states, periodic_sync_to_rex]).

%% Only periodic_sync_to_rex waits for phc's periodic sync; elsewhere a
%% sync_remote_children_event the fake receives is NodeUp's.
sync_interval(periodic_sync_to_rex) -> "1000";
sync_interval(_) -> "60000".

init_per_suite(Config) ->
    phc_interop:init_suite(Config).

end_per_suite(_Config) -> ok.

%% phc's hub: from flags, or for a HotSwap case from a config file.
hub_args(hot_swap_leave_sends_states, Config) ->
    File = filename:join(?config(priv_dir, Config), "hot_swap.config"),
    ok = file:write_file(File, io_lib:format("{hub, ~p, [{hubs_discover_interval, 500}, "
                                             "{sync_interval, 60000}, "
                                             "{migration_strategy, {~p, [{handover, true}]}}]}.~n",
                                             [?HUB, ?HOTSWAP])),
    ["-config", File];
hub_args(TC, _Config) ->
    ["-hub", atom_to_list(?HUB), "-hubs_discover_interval", "500",
     "-sync_interval", sync_interval(TC)].

init_per_testcase(TC, Config) ->
    Phc = phc_interop:start_phc(Config, phchub, #{args => hub_args(TC, Config)}),
    PhcNode = maps:get(node, Phc),
    Cfg0 = [{phc, Phc}, {phc_node, PhcNode} | Config],
    try
        ok = wait_until(fun() -> hub_nodes(PhcNode) =:= [PhcNode] end, 5000),
        {PeerPid, Beam} = Peer = phc_interop:start_peer(hub),
        Cfg1 = [{peer, Peer}, {beam, Beam} | Cfg0],
        pong = peer:call(PeerPid, net_adm, ping, [PhcNode]),
        pong = net_adm:ping(Beam),
        Groups = case beam_in_hub(TC) of
                     true -> phc_hub_fake:groups();
                     false -> phc_hub_fake:groups() -- [cluster_join_event]
                 end,
        {ok, Fake, Scope} = erpc:call(Beam, phc_hub_fake, start,
                                      [?HUB, Groups, self()]),
        ct:log("phc ~s, BEAM ~s, fake coordinator ~p, scope ~p, groups ~p",
               [PhcNode, Beam, Fake, Scope, Groups]),
        %% phc's coordinator is in the BEAM scope's view before a case starts
        ok = wait_until(fun() -> length(phc_members(Beam, PhcNode,
                                                    children_registration_event)) =:= 1
                        end, 5000),
        [{fake, Fake}, {scope, Scope} | Cfg1]
    catch C:R:St ->
            ct:log("setup failed ~p:~p ~p~nphc log:~n~s",
                   [C, R, St, phc_interop:phc_log(Phc)]),
            end_per_testcase(TC, Cfg0),
            ct:fail({setup_failed, R})
    end.

end_per_testcase(_TC, Config) ->
    Phcs = [V || {phc, V} <- Config],
    [phc_interop:stop_peer(P) || {peer, P} <- Config],
    Results = [{maps:get(node, P), phc_interop:stop_phc(P),
                phc_interop:sanitizer_report(P)} || P <- Phcs],
    ct:log("phc stop results: ~p", [Results]),
    [ct:log("phc log ~s:~n~s", [maps:get(log, P), phc_interop:phc_log(P)])
     || P <- Phcs],
    case [R || {_, _, {found, _}} = R <- Results] of
        [] -> ok;
        Bad -> {fail, {sanitizer_report, Bad}}
    end.

%% ---------------------------------------------------------------------
%% helpers

phc(Config) -> ?config(phc_node, Config).
beam(Config) -> ?config(beam, Config).
fake(Config) -> ?config(fake, Config).

ph(Node, F, A) -> erpc:call(Node, ?PH, F, [?HUB | A], 5000).

hub_nodes(Phc) -> lists:sort(ph(Phc, nodes, [[include_local]])).

process_list(Phc) -> ph(Phc, process_list, [global]).
dump(Phc) -> ph(Phc, registry_dump, []).

%% Members of Group in the BEAM scope's view that live on phc.
phc_members(Beam, Phc, Group) ->
    [P || P <- erpc:call(Beam, phc_hub_fake, members, [?HUB, Group]),
          node(P) =:= Phc].

recv_timeout(What) ->
    {messages, Ms} = process_info(self(), messages),
    ct:fail({no_message, What, {mailbox, Ms}}).

%% Nothing matching within T ms.
flush_joins() ->
    receive {fake, _, {cluster_join_event, _}} -> flush_joins()
    after 0 -> ok
    end.

no_msg(Match, T) ->
    receive M ->
            case Match(M) of
                true -> ct:fail({unexpected_message, M});
                false -> no_msg(Match, T)
            end
    after T -> ok
    end.

%% Idle processes on the BEAM node, to stand for its children.
beam_pids(Beam, N) ->
    [erpc:call(Beam, erlang, spawn, [timer, sleep, [infinity]]) || _ <- lists:seq(1, N)].

%% Idle processes on the test node (a second BEAM node).
local_pids(N) ->
    [spawn(timer, sleep, [infinity]) || _ <- lists:seq(1, N)].

%% Send to phc's coordinator by name, as BEAM coordinators do.
to_phc(Config, Msg) -> {?HUB, phc(Config)} ! Msg, ok.

%% A round trip through phc's coordinator: everything sent to it before
%% from this process has been handled.
barrier(Config) ->
    ?assertEqual(bong, gen_server:call({?HUB, phc(Config)}, ping, 5000)).

%% PostStartData as a BEAM node dispatches it ("PostStartData").
psd(Cid, Spec, Node, Pid, Meta) ->
    #{'__struct__' => ?PSD, cid => Cid, pid => Pid, child_spec => Spec,
      result => {ok, Pid}, for_node => {Node, [{migration, false}]},
      child_nodes => [{Node, Pid}], has_errors => false, nodes => [Node],
      metadata => Meta}.

spec(Cid, Mod, Arg) -> #{id => Cid, start => {Mod, start_link, [Arg]}}.

%% ChildData of a start cast ("ChildData").
child_data(Cid, Spec, Nodes, Meta) ->
    #{hub_id => ?HUB, child_id => Cid, child_spec => Spec, nodes => Nodes,
      metadata => Meta}.

%% Start options of an awaitable start (captured; "start_children and
%% StartHandle").
start_opts(ReplyTo, Cids, Nodes) ->
    [{reply_to, [ReplyTo]}, {required_cids, Cids}, {collect_from, Nodes},
     {await_timeout, 60000}, {metadata, #{}}, {on_failure, continue},
     {check_existing, true}, {async_wait, false}, {timeout, 10000},
     {init_cids, Cids}, {awaitable, true}].

stop_opts(ReplyTo) ->
    [{reply_to, [ReplyTo]}, {init_cids, []}, {await_timeout, 60000},
     {metadata, #{}}, {on_failure, continue}, {check_existing, true},
     {async_wait, false}, {timeout, 10000}, {awaitable, true}].

%% Register rows on phc as Node would (a children_registration_event).
register_rows(Config, Node, Rows) ->
    Psds = [psd(Cid, Spec, Node, Pid, Meta) || {Cid, Spec, Pid, Meta} <- Rows],
    to_phc(Config, {children_registration_event, {Psds, Node, [{members, external}]}}),
    barrier(Config).

%% Start children on phc through a start_children cast and collect the
%% results (as ProcessHub's collector does).
cast_start(Config, CDs) ->
    Phc = phc(Config),
    Cids = [maps:get(child_id, CD) || CD <- CDs],
    ok = gen_server:cast({?HUB, Phc},
                         {start_children, CDs, start_opts(self(), Cids, [Phc])}),
    {collect_start_results, Results, Phc} =
        ?RECV({collect_start_results, _, Phc}),
    Results.

is_alive_remote(Pid) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, _} -> false
    after 200 -> demonitor(Ref, [flush]), true
    end.

%% ---------------------------------------------------------------------
%% membership

%% The BEAM scope lists phc's coordinator (one pid on phc, the same in all
%% eight groups) next to the fake; phc takes the BEAM node into its hub
%% (ProcessHub's join_handlers on a visible node in cluster_join_event),
%% runs NodeUp for it (sync_remote_children_event to the new node) and
%% announces itself to it (cluster_join_event every discover interval).
pg_membership_both_ways(Config) ->
    Phc = phc(Config), Beam = beam(Config), Fake = fake(Config),
    ok = wait_until(fun() ->
                            lists:all(fun(G) -> length(phc_members(Beam, Phc, G)) =:= 1 end,
                                      phc_hub_fake:groups())
                    end, 5000),
    PerGroup = [{G, erpc:call(Beam, phc_hub_fake, members, [?HUB, G])}
                || G <- phc_hub_fake:groups()],
    ct:log("BEAM scope view: ~p", [PerGroup]),
    [Coord] = phc_members(Beam, Phc, cluster_join_event),
    [?assertEqual(lists:sort([Coord, Fake]), lists:sort(Ms)) || {_, Ms} <- PerGroup],
    ?assertEqual(lists:sort(phc_hub_fake:groups()),
                 lists:sort(erpc:call(Beam, pg, which_groups,
                                      [phc_hub_fake:scope(?HUB)]))),
    %% phc sees the BEAM coordinator: the BEAM node is a hub node
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    ?assertEqual([Beam], ph(Phc, nodes, [[]])),
    ?assertEqual([Beam], erpc:call(Phc, ?PH, nodes, [?HUB])),
    %% NodeUp: phc's (empty) local children, to the new node only
    ?RECV({fake, Beam, {sync_remote_children_event, {[], Phc}}}),
    %% phc announces itself every hubs_discover_interval
    ?RECV({fake, Beam, {cluster_join_event, Phc}}),
    ?RECV({fake, Beam, {cluster_join_event, Phc}}),
    %% the coordinator answers calls as a BEAM coordinator does
    ?assertEqual(lists:sort([Phc, Beam]),
                 lists:sort(gen_server:call({?HUB, Phc}, {get_nodes, [include_local]}))),
    ?assertEqual(bong, gen_server:call(Coord, ping)).

%% cluster_leave_event from the BEAM node takes it out of phc's hub;
%% its cluster_join_event brings it back.
cluster_join_and_leave_events(Config) ->
    Phc = phc(Config), Beam = beam(Config), Fake = fake(Config),
    NodeUp = fun() -> ?RECV({fake, Beam, {sync_remote_children_event, {[], Phc}}}) end,
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    NodeUp(), % the join through pg (-sync_interval 60000: no periodic sync)
    ok = erpc:call(Beam, phc_hub_fake, send_from,
                   [Fake, {?HUB, Phc}, {cluster_leave_event, Beam}]),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= [Phc] end, 5000),
    %% a repeat is ignored
    to_phc(Config, {cluster_leave_event, Beam}),
    barrier(Config),
    ?assertEqual([Phc], hub_nodes(Phc)),
    ok = erpc:call(Beam, phc_hub_fake, send_from,
                   [Fake, {?HUB, Phc}, {cluster_join_event, Beam}]),
    NodeUp(), % the rejoin runs NodeUp again
    ?assertEqual(lists:sort([Phc, Beam]), hub_nodes(Phc)),
    %% a repeated join is ignored: no NodeUp
    to_phc(Config, {cluster_join_event, Beam}),
    barrier(Config),
    ok = erpc:call(Beam, phc_hub_fake, send_from,
                   [Fake, {?HUB, Phc}, {cluster_leave_event, Beam}]),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= [Phc] end, 5000),
    to_phc(Config, {cluster_join_event, Beam}),
    NodeUp(),
    ?assertEqual(lists:sort([Phc, Beam]), hub_nodes(Phc)),
    %% a join for phc itself changes nothing
    to_phc(Config, {cluster_join_event, Phc}),
    barrier(Config),
    ?assertEqual(lists:sort([Phc, Beam]), hub_nodes(Phc)),
    no_msg(fun({fake, _, {sync_remote_children_event, _}}) -> true; (_) -> false end, 300).

%% kill -9 of the BEAM node: phc drops it from the hub nodes and runs
%% NodeDown: rows that listed it lose it; a row phc now owns and can start
%% (phc_counter) is restarted on phc; a row it cannot start goes away.
nodedown_cleanup(Config) ->
    Phc = phc(Config), Beam = beam(Config), Me = node(),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    [B1, B2, B3] = beam_pids(Beam, 3),
    [L3] = local_pids(1),
    SpecC = spec(<<"nd-counter">>, phc_counter, 5),
    SpecX = spec(<<"nd-beamonly">>, 'Elixir.MyProcess', #{n => 1}),
    SpecS = spec(<<"nd-shared">>, 'Elixir.MyProcess', #{n => 2}),
    register_rows(Config, Beam, [{<<"nd-counter">>, SpecC, B1, #{}},
                                 {<<"nd-beamonly">>, SpecX, B2, #{}},
                                 {<<"nd-shared">>, SpecS, B3, #{}}]),
    register_rows(Config, Me, [{<<"nd-shared">>, SpecS, L3, #{}}]),
    ?assertEqual([{<<"nd-beamonly">>, [{Beam, B2}]},
                  {<<"nd-counter">>, [{Beam, B1}]},
                  {<<"nd-shared">>, [{Beam, B3}, {Me, L3}]}],
                 process_list(Phc)),
    OsPid = phc_interop:peer_os_pid(?config(peer, Config)),
    ok = net_kernel:monitor_nodes(true),
    phc_interop:os_signal(OsPid, "KILL"),
    ?RECV({nodedown, Beam}),
    net_kernel:monitor_nodes(false),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= [Phc] end, 5000),
    ok = wait_until(fun() -> length(process_list(Phc)) =:= 2 end, 5000),
    PL = process_list(Phc),
    ct:log("after nodedown: ~p", [PL]),
    [{<<"nd-counter">>, [{Phc, NewPid}]}, {<<"nd-shared">>, [{Me, L3}]}] = PL,
    ?assertEqual(Phc, node(NewPid)),
    ?assertEqual(5, gen_server:call(NewPid, get)),
    ?assertEqual(nil, ph(Phc, child_lookup, [<<"nd-beamonly">>, []])),
    ?assertEqual([{<<"nd-counter">>, NewPid}], ph(Phc, process_list, [local])),
    ?assertEqual(false, gen_server:call({?HUB, Phc}, 'is_locked?')).

%% The BEAM scope dies while its node and the fake coordinator stay: phc's
%% scope drops the groups it held for it, so phc's external events no
%% longer reach the fake (the BEAM node was first taken out of the hub
%% nodes, which would otherwise still get events by name). A new scope
%% that joins the fake again is seen: the BEAM node rejoins phc's hub
%% (NodeUp) and events reach the fake again.
scope_down_drops_members(Config) ->
    Phc = phc(Config), Beam = beam(Config), Fake = fake(Config),
    NodeUp = fun() -> ?RECV({fake, Beam, {sync_remote_children_event, {[], Phc}}}) end,
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    NodeUp(),
    to_phc(Config, {cluster_leave_event, Beam}),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= [Phc] end, 5000),
    %% baseline: the fake is a pg member, so it gets the registration
    SA = spec(<<"sd-a">>, phc_counter, 1),
    [{<<"sd-a">>, {ok, PA}}] = cast_start(Config, [child_data(<<"sd-a">>, SA, [Phc], #{})]),
    ?RECV({fake, Beam, {children_registration_event, {[#{cid := <<"sd-a">>}], Phc, _}}}),
    ok = erpc:call(Beam, phc_hub_fake, kill_scope, [?HUB]),
    timer:sleep(500), % the scope's DOWN travels Beam -> phc, not through us
    %% announces phc sent every discover interval until the DOWN arrived
    %% (slow under the sanitizers) are not what this case checks
    flush_joins(),
    SB = spec(<<"sd-b">>, phc_counter, 2),
    [{<<"sd-b">>, {ok, _}}] = cast_start(Config, [child_data(<<"sd-b">>, SB, [Phc], #{})]),
    %% (phc asks a joining peer's coordinator for the hub's strategies; the
    %% fake answers that call itself, and it is not an event)
    no_msg(fun({fake, _, {'$gen_call', _, get_state}}) -> false;
              ({fake, _, _}) -> true;
              (_) -> false
           end, 500),
    %% a new scope, the same fake in all groups
    {ok, Scope2} = erpc:call(Beam, phc_hub_fake, restart_scope,
                             [Fake, phc_hub_fake:groups()]),
    ct:log("new BEAM scope ~p", [Scope2]),
    NodeUpSync = ?RECV({fake, Beam, {sync_remote_children_event, {_, Phc}}}),
    ct:log("NodeUp sync after the new scope: ~p", [NodeUpSync]),
    ?assert(lists:member(Beam, hub_nodes(Phc))),
    ok = wait_until(fun() ->
                            lists:all(fun(G) -> length(phc_members(Beam, Phc, G)) =:= 1 end,
                                      phc_hub_fake:groups())
                    end, 5000),
    %% external events reach the fake again. (NodeUp may have migrated
    %% sd-a or sd-b to the BEAM node, depending on how the node names hash:
    %% then phc answers not_found for it.)
    ok = gen_server:cast({?HUB, Phc},
                         {stop_children, [#{child_id => <<"sd-a">>, nodes => [Phc]},
                                          #{child_id => <<"sd-b">>, nodes => [Phc]}], []}),
    ?RECV({fake, Beam, {children_unregistration_event,
                        {[{<<"sd-a">>, _, Phc}, {<<"sd-b">>, _, Phc}], Phc, []}}}),
    ok = wait_until(fun() -> not is_alive_remote(PA) end, 5000),
    ?assertEqual([], ph(Phc, process_list, [local])).

%% phc stops (SIGTERM): the BEAM coordinator gets cluster_leave_event and
%% the BEAM scope drops phc's coordinator from every group.
phc_leave_seen_on_beam(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    [_] = phc_members(Beam, Phc, cluster_join_event),
    phc_interop:signal_phc(?config(phc, Config), "TERM"),
    ?RECV({fake, Beam, {cluster_leave_event, Phc}}),
    ok = wait_until(fun() ->
                            lists:all(fun(G) -> phc_members(Beam, Phc, G) =:= [] end,
                                      phc_hub_fake:groups())
                    end, 5000),
    ?assertEqual({exited, 0}, phc_interop:wait_exit(?config(phc, Config), 5000)),
    %% only the fake is left in the BEAM scope
    ?assertEqual([fake(Config)],
                 erpc:call(Beam, phc_hub_fake, members, [?HUB, cluster_join_event])).

%% The calls a BEAM node makes to a coordinator ("Calling a BEAM
%% coordinator").
coordinator_calls(Config) ->
    Phc = phc(Config),
    ?assertEqual(bong, gen_server:call({?HUB, Phc}, ping)),
    ?assertEqual([Phc], gen_server:call({?HUB, Phc}, {get_nodes, [include_local]})),
    ?assertEqual([], gen_server:call({?HUB, Phc}, {get_nodes, []})),
    ?assertEqual(false, gen_server:call({?HUB, Phc}, 'is_locked?')),
    ?assertEqual(false, gen_server:call({?HUB, Phc}, 'is_partitioned?')),
    ?assertEqual(true, erpc:call(Phc, ?PH, 'is_alive?', [?HUB])),
    ?assertEqual(false, erpc:call(Phc, ?PH, 'is_alive?', [no_such_hub])),
    ?assertEqual([], process_list(Phc)),
    ?assertEqual(#{}, dump(Phc)).

%% ---------------------------------------------------------------------
%% registry events

registration_event_adds_rows(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    [P1, P2, P3] = beam_pids(Beam, 3),
    S1 = spec(<<"reg-1">>, 'Elixir.MyProcess', #{id => <<"reg-1">>}),
    S2 = spec(<<"reg-2">>, 'Elixir.MyProcess', #{id => <<"reg-2">>}),
    S3 = spec(reg_3, 'Elixir.MyProcess', #{id => reg_3}),
    SE = spec(<<"reg-err">>, 'Elixir.MyProcess', #{}),
    Failed = #{'__struct__' => ?PSD, cid => <<"reg-err">>, pid => nil,
               child_spec => SE, result => {error, boom},
               for_node => {Beam, [{migration, false}]},
               child_nodes => [{Beam, nil}], has_errors => true,
               nodes => [Beam], metadata => #{}},
    Msg = {children_registration_event,
           {[psd(<<"reg-1">>, S1, Beam, P1, #{tag => <<"workers">>}),
             psd(<<"reg-2">>, S2, Beam, P2, #{}),
             psd(reg_3, S3, Beam, P3, #{tag => <<"workers">>}),
             Failed],
            Beam, [{members, external}]}},
    to_phc(Config, Msg),
    barrier(Config),
    %% rows in Elixir map order (atoms before binaries)
    ?assertEqual([{reg_3, [{Beam, P3}]}, {<<"reg-1">>, [{Beam, P1}]},
                  {<<"reg-2">>, [{Beam, P2}]}],
                 process_list(Phc)),
    ?assertEqual([], ph(Phc, process_list, [local])),
    ?assertEqual(#{reg_3 => {S3, [{Beam, P3}], #{tag => <<"workers">>}},
                   <<"reg-1">> => {S1, [{Beam, P1}], #{tag => <<"workers">>}},
                   <<"reg-2">> => {S2, [{Beam, P2}], #{}}},
                 dump(Phc)),
    ?assertEqual({S1, [{Beam, P1}]}, ph(Phc, child_lookup, [<<"reg-1">>, []])),
    ?assertEqual({S1, [{Beam, P1}], #{tag => <<"workers">>}},
                 ph(Phc, child_lookup, [<<"reg-1">>, [{with_metadata, true}]])),
    ?assertEqual({S2, [{Beam, P2}]}, ph(Phc, child_lookup, [<<"reg-2">>])),
    ?assertEqual(nil, ph(Phc, child_lookup, [<<"reg-err">>, []])),
    ?assertEqual([{reg_3, [{Beam, P3}]}, {<<"reg-1">>, [{Beam, P1}]}],
                 ph(Phc, tag_query, [<<"workers">>])),
    ?assertEqual([], ph(Phc, tag_query, [<<"nobody">>])),
    ?assertEqual([P1], ph(Phc, get_pids, [<<"reg-1">>])),
    ?assertEqual([P3], ph(Phc, get_pids, [reg_3])),
    ?assertEqual([], ph(Phc, get_pids, [<<"reg-err">>])),
    %% the same child from a second node: node lists are merged
    [L1] = local_pids(1),
    register_rows(Config, node(), [{<<"reg-1">>, S1, L1, #{tag => <<"workers">>}}]),
    ?assertEqual({<<"reg-1">>, [{Beam, P1}, {node(), L1}]},
                 lists:keyfind(<<"reg-1">>, 1, process_list(Phc))),
    ?assertEqual([P1, L1], ph(Phc, get_pids, [<<"reg-1">>])).

%% {[{Cid, Result, Node}], SenderNode, Opts}: SenderNode leaves each row;
%% rows left without a node go; no stop results go anywhere (phc is not
%% the sender).
unregistration_event_removes_sender_node(Config) ->
    Phc = phc(Config), Beam = beam(Config), Me = node(),
    [P1, P2] = beam_pids(Beam, 2),
    [L1] = local_pids(1),
    S1 = spec(<<"un-1">>, 'Elixir.MyProcess', #{}),
    S2 = spec(<<"un-2">>, 'Elixir.MyProcess', #{}),
    register_rows(Config, Beam, [{<<"un-1">>, S1, P1, #{}}, {<<"un-2">>, S2, P2, #{}}]),
    register_rows(Config, Me, [{<<"un-1">>, S1, L1, #{}}]),
    ?assertEqual([{<<"un-1">>, [{Beam, P1}, {Me, L1}]}, {<<"un-2">>, [{Beam, P2}]}],
                 process_list(Phc)),
    to_phc(Config, {children_unregistration_event,
                    {[{<<"un-1">>, ok, Beam}, {<<"un-2">>, ok, Beam},
                      {<<"un-unknown">>, {error, not_found}, Beam}],
                     Beam, [{reply_to, [self()]}]}}),
    barrier(Config),
    ?assertEqual([{<<"un-1">>, [{Me, L1}]}], process_list(Phc)),
    ?assertEqual(#{<<"un-1">> => {S1, [{Me, L1}], #{}}}, dump(Phc)),
    ?assertEqual(nil, ph(Phc, child_lookup, [<<"un-2">>, []])),
    no_msg(fun({collect_stop_results, _, _}) -> true; (_) -> false end, 300),
    %% the self_exit shape of a child that ended for good ("Child restart
    %% and exit")
    to_phc(Config, {children_unregistration_event,
                    {[{<<"un-1">>, self_exit, Me}], Me, []}}),
    barrier(Config),
    ?assertEqual([], process_list(Phc)),
    ?assertEqual(#{}, dump(Phc)).

pid_update_event_changes_pid(Config) ->
    Phc = phc(Config), Beam = beam(Config), Me = node(),
    [P1, P2] = beam_pids(Beam, 2),
    [L1] = local_pids(1),
    S1 = spec(<<"pu-1">>, 'Elixir.MyProcess', #{}),
    register_rows(Config, Beam, [{<<"pu-1">>, S1, P1, #{tag => <<"t">>}}]),
    register_rows(Config, Me, [{<<"pu-1">>, S1, L1, #{tag => <<"t">>}}]),
    to_phc(Config, {child_process_pid_update_event, {<<"pu-1">>, {Beam, P2}}}),
    barrier(Config),
    %% Keyword.put: the updated pair moves to the front
    ?assertEqual([{<<"pu-1">>, [{Beam, P2}, {Me, L1}]}], process_list(Phc)),
    ?assertEqual([P2, L1], ph(Phc, get_pids, [<<"pu-1">>])),
    ?assertEqual({S1, [{Beam, P2}, {Me, L1}], #{tag => <<"t">>}},
                 ph(Phc, child_lookup, [<<"pu-1">>, [{with_metadata, true}]])).

%% ProcessHub's coordinator crashes on a pid update for an unknown id;
%% phc drops it and stays up, registry unchanged.
pid_update_unknown_cid_dropped(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    [P1, P2] = beam_pids(Beam, 2),
    S1 = spec(<<"pk-1">>, 'Elixir.MyProcess', #{}),
    register_rows(Config, Beam, [{<<"pk-1">>, S1, P1, #{}}]),
    Before = dump(Phc),
    to_phc(Config, {child_process_pid_update_event, {<<"pk-unknown">>, {Beam, P2}}}),
    to_phc(Config, {child_process_pid_update_event, {pk_unknown, {Beam, P2}}}),
    barrier(Config),
    ?assertEqual(Before, dump(Phc)),
    ?assertEqual(nil, ph(Phc, child_lookup, [<<"pk-unknown">>, []])),
    ?assertEqual(pong, net_adm:ping(Phc)),
    %% the coordinator still applies a good one
    to_phc(Config, {child_process_pid_update_event, {<<"pk-1">>, {Beam, P2}}}),
    barrier(Config),
    ?assertEqual([P2], ph(Phc, get_pids, [<<"pk-1">>])).

%% {[{ChildSpec, Pid, Meta}], SenderNode}: a new row is added, the sender's
%% pair is merged into an existing row after the pairs already there
%% (ProcessEmitHandle: sorted local pairs ++ remote pairs); a repeat
%% changes nothing; rows the sender does not list are kept (no detach).
%% Not covered on purpose, because BEAM and phc differ there and ProcessHub
%% never sends it: a nil pid, and a new pid for a node already in the row
%% (ProcessHub 0.4.1 can keep both pairs; phc replaces).
sync_remote_children_event_merges(Config) ->
    Phc = phc(Config), Beam = beam(Config), Me = node(),
    [P1, P2, P3] = beam_pids(Beam, 3),
    [L1] = local_pids(1),
    S1 = spec(<<"sy-1">>, 'Elixir.MyProcess', #{}),
    S2 = spec(<<"sy-2">>, 'Elixir.MyProcess', #{}),
    S3 = spec(sy_3, 'Elixir.MyProcess', #{}),
    register_rows(Config, Me, [{<<"sy-1">>, S1, L1, #{}}]),
    to_phc(Config, {sync_remote_children_event,
                    {[{S1, P1, #{}}, {S2, P2, #{tag => <<"s">>}}], Beam}}),
    barrier(Config),
    ?assertEqual([{<<"sy-1">>, [{Me, L1}, {Beam, P1}]}, {<<"sy-2">>, [{Beam, P2}]}],
                 process_list(Phc)),
    ?assertEqual({S2, [{Beam, P2}], #{tag => <<"s">>}},
                 ph(Phc, child_lookup, [<<"sy-2">>, [{with_metadata, true}]])),
    ?assertEqual([{<<"sy-2">>, [{Beam, P2}]}], ph(Phc, tag_query, [<<"s">>])),
    ?assertEqual([L1, P1], ph(Phc, get_pids, [<<"sy-1">>])),
    %% a second round: sy-1 again (same pid), a new sy_3, no sy-2
    to_phc(Config, {sync_remote_children_event, {[{S1, P1, #{}}, {S3, P3, #{}}], Beam}}),
    barrier(Config),
    ?assertEqual([{sy_3, [{Beam, P3}]}, {<<"sy-1">>, [{Me, L1}, {Beam, P1}]},
                  {<<"sy-2">>, [{Beam, P2}]}],
                 process_list(Phc)),
    %% the empty sync a BEAM NodeUp sends changes nothing
    Before = dump(Phc),
    to_phc(Config, {sync_remote_children_event, {[], Beam}}),
    barrier(Config),
    ?assertEqual(Before, dump(Phc)).

%% ---------------------------------------------------------------------
%% start_children / stop_children casts

start_children_cast(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    Meta = #{tag => <<"workers">>},
    SA = spec(<<"sc-a">>, phc_counter, 7),
    SB = spec(sc_b, phc_counter, 1 bsl 40),
    CDs = [child_data(<<"sc-a">>, SA, [Phc], Meta), child_data(sc_b, SB, [Phc], Meta)],
    Results = cast_start(Config, CDs),
    ct:log("collect_start_results: ~p", [Results]),
    [{sc_b, {ok, PB}}, {<<"sc-a">>, {ok, PA}}] = lists:sort(Results),
    ?assertEqual(Phc, node(PA)),
    ?assertEqual(Phc, node(PB)),
    ?assertNotEqual(PA, PB),
    ?assertEqual(7, gen_server:call(PA, get)),
    ?assertEqual(1 bsl 40, gen_server:call(PB, get)),
    ?assertEqual(10, gen_server:call(PA, {add, 3})),
    %% the fake coordinator, a member of children_registration_event,
    %% gets phc's PostStartData (external)
    {fake, Beam, {children_registration_event, {Psds, Phc, EvOpts}}} =
        ?RECV({fake, Beam, {children_registration_event, {_, Phc, _}}}),
    ct:log("registration event: ~p", [{Psds, EvOpts}]),
    ?assertEqual([{members, external}], EvOpts),
    Expect = [psd(<<"sc-a">>, SA, Phc, PA, Meta), psd(sc_b, SB, Phc, PB, Meta)],
    ?assertEqual(lists:sort(Expect), lists:sort(Psds)),
    [?assertEqual(10, maps:size(P)) || P <- Psds],
    %% phc's registry
    ?assertEqual([{sc_b, [{Phc, PB}]}, {<<"sc-a">>, [{Phc, PA}]}], process_list(Phc)),
    ?assertEqual([{sc_b, PB}, {<<"sc-a">>, PA}], ph(Phc, process_list, [local])),
    ?assertEqual({SA, [{Phc, PA}], Meta},
                 ph(Phc, child_lookup, [<<"sc-a">>, [{with_metadata, true}]])),
    ?assertEqual([{sc_b, [{Phc, PB}]}, {<<"sc-a">>, [{Phc, PA}]}],
                 ph(Phc, tag_query, [<<"workers">>])),
    ?assertEqual([PB], ph(Phc, get_pids, [sc_b])).

%% phc's periodic sync (sync_interval 1000) to each other hub node: what
%% ProcessHub's PubSub closure runs, Synchronizer.exec_interval_sync/4, as
%% an rpc:cast to the node's rex (the fake's stand-in module forwards it).
periodic_sync_to_rex(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    {fake, Beam, {interval_sync, Strat, Sync, Phc}} =
        ?RECV({fake, Beam, {interval_sync, _, _, Phc}}, 5000),
    ?assertEqual(#{'__struct__' => 'Elixir.ProcessHub.Strategy.Synchronization.PubSub',
                   sync_interval => 1000}, Strat),
    ?assertEqual([], Sync),
    %% and again, one interval later
    ?RECV({fake, Beam, {interval_sync, _, [], Phc}}, 3000).

stop_children_cast(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    SA = spec(<<"st-a">>, phc_counter, 1),
    SB = spec(<<"st-b">>, phc_counter, 2),
    Results = cast_start(Config, [child_data(<<"st-a">>, SA, [Phc], #{}),
                                  child_data(<<"st-b">>, SB, [Phc], #{})]),
    {_, {ok, PA}} = lists:keyfind(<<"st-a">>, 1, Results),
    {_, {ok, PB}} = lists:keyfind(<<"st-b">>, 1, Results),
    Ref = monitor(process, PA),
    Opts = stop_opts(self()),
    ok = gen_server:cast({?HUB, Phc},
                         {stop_children, [#{child_id => <<"st-a">>, nodes => [Phc]},
                                          #{child_id => <<"st-none">>, nodes => [Phc]}],
                          Opts}),
    {fake, Beam, {children_unregistration_event, {Res, Phc, EvOpts}}} =
        ?RECV({fake, Beam, {children_unregistration_event, {_, Phc, _}}}),
    ?assertEqual([{<<"st-a">>, ok, Phc}, {<<"st-none">>, {error, not_found}, Phc}], Res),
    ?assertEqual(Opts, EvOpts),
    {collect_stop_results, StopRes, Phc} = ?RECV({collect_stop_results, _, Phc}),
    ?assertEqual([{<<"st-a">>, ok}, {<<"st-none">>, {error, not_found}}], StopRes),
    ?RECV({'DOWN', Ref, process, PA, _}),
    ?assertEqual([{<<"st-b">>, [{Phc, PB}]}], process_list(Phc)),
    ?assertEqual(nil, ph(Phc, child_lookup, [<<"st-a">>, []])),
    ?assertEqual(2, gen_server:call(PB, get)),
    %% a terminated child is not reported as self_exit
    no_msg(fun({fake, _, {children_unregistration_event, _}}) -> true;
              ({collect_stop_results, _, _}) -> true;
              (_) -> false
           end, 500),
    %% a stop without reply_to: the event, no results
    Opts2 = [{init_cids, []}, {timeout, 10000}],
    ok = gen_server:cast({?HUB, Phc},
                         {stop_children, [#{child_id => <<"st-b">>, nodes => [Phc]}], Opts2}),
    {fake, Beam, {children_unregistration_event, {[{<<"st-b">>, ok, Phc}], Phc, Opts2}}} =
        ?RECV({fake, Beam, {children_unregistration_event, {_, Phc, _}}}),
    ok = wait_until(fun() -> process_list(Phc) =:= [] end, 5000),
    no_msg(fun({collect_stop_results, _, _}) -> true; (_) -> false end, 300).

start_unknown_module_undef(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    SU = spec(<<"un-mod">>, nosuch_mod, 1),
    SF = #{id => <<"un-fun">>, start => {phc_counter, nosuch_fun, [1]}},
    SOk = spec(<<"un-ok">>, phc_counter, 3),
    Results = cast_start(Config, [child_data(<<"un-mod">>, SU, [Phc], #{}),
                                  child_data(<<"un-fun">>, SF, [Phc], #{}),
                                  child_data(<<"un-ok">>, SOk, [Phc], #{})]),
    ct:log("results: ~p", [Results]),
    ?assertMatch({_, {error, {undef, _}}}, lists:keyfind(<<"un-mod">>, 1, Results)),
    ?assertMatch({_, {error, {undef, _}}}, lists:keyfind(<<"un-fun">>, 1, Results)),
    {_, {ok, POk}} = lists:keyfind(<<"un-ok">>, 1, Results),
    ?assertEqual(3, gen_server:call(POk, get)),
    ?assertEqual([{<<"un-ok">>, [{Phc, POk}]}], process_list(Phc)),
    {fake, Beam, {children_registration_event, {Psds, Phc, _}}} =
        ?RECV({fake, Beam, {children_registration_event, {_, Phc, _}}}),
    ct:log("PostStartData: ~p", [Psds]),
    [PU] = [P || #{cid := <<"un-mod">>} = P <- Psds],
    ?assertMatch(#{has_errors := true, pid := nil, result := {error, {undef, _}}}, PU),
    [POkData] = [P || #{cid := <<"un-ok">>} = P <- Psds],
    ?assertEqual(psd(<<"un-ok">>, SOk, Phc, POk, #{}), POkData).

start_duplicate_already_started(Config) ->
    Phc = phc(Config),
    S = spec(<<"dup">>, phc_counter, 4),
    [{<<"dup">>, {ok, P}}] = cast_start(Config, [child_data(<<"dup">>, S, [Phc], #{})]),
    ?assertEqual(5, gen_server:call(P, {add, 1})),
    Again = cast_start(Config, [child_data(<<"dup">>, S, [Phc], #{})]),
    ?assertEqual([{<<"dup">>, {error, {already_started, P}}}], Again),
    ?assertEqual([{<<"dup">>, [{Phc, P}]}], process_list(Phc)),
    %% the first incarnation kept its state
    ?assertEqual(5, gen_server:call(P, get)).

%% With the BEAM node on phc's ring, children that hash to it are
%% forwarded to {my_hub, Beam} unchanged (StartHandle's validate step);
%% phc starts and reports only its own.
start_forwards_to_ring_owner(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    Cids = [list_to_binary("fw-" ++ integer_to_list(I)) || I <- lists:seq(1, 24)],
    CDs = [child_data(C, spec(C, phc_counter, 0), [Phc], #{}) || C <- Cids],
    Opts = start_opts(self(), Cids, [Phc]),
    ok = gen_server:cast({?HUB, Phc}, {start_children, CDs, Opts}),
    {collect_start_results, Results, Phc} = ?RECV({collect_start_results, _, Phc}),
    Started = [C || {C, {ok, _}} <- Results],
    ?assertEqual(length(Started), length(Results)),
    Forwarded = collect_forwards(length(Cids) - length(Started), Opts, []),
    ct:log("started on phc: ~p~nforwarded to BEAM: ~p", [Started, Forwarded]),
    ?assertNotEqual([], Started),
    ?assertNotEqual([], Forwarded),
    ?assertEqual(lists:sort(Cids), lists:sort(Started ++ [maps:get(child_id, CD) || CD <- Forwarded])),
    %% byte-for-byte the ChildData it got
    [?assert(lists:member(CD, CDs)) || CD <- Forwarded],
    ?assertEqual(lists:sort(Started), lists:sort([C || {C, _} <- process_list(Phc)])),
    no_msg(fun({fake, _, {'$gen_cast', _}}) -> true; (_) -> false end, 300).

collect_forwards(0, _Opts, Acc) -> Acc;
collect_forwards(N, Opts, Acc) ->
    {fake, _, {'$gen_cast', {start_children, CDs, Opts}}} =
        ?RECV({fake, _, {'$gen_cast', {start_children, _, Opts}}}),
    collect_forwards(N - length(CDs), Opts, Acc ++ CDs).

%% ---------------------------------------------------------------------
%% malformed input

%% Wrong shapes for every event and cast are dropped (BEAM's coordinator
%% would crash on most of them): phc stays up, the registry and the hub
%% nodes are unchanged, and the coordinator keeps working.
malformed_events_dropped(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    [P1, P2] = beam_pids(Beam, 2),
    S1 = spec(<<"mf-1">>, 'Elixir.MyProcess', #{}),
    register_rows(Config, Beam, [{<<"mf-1">>, S1, P1, #{tag => <<"m">>}}]),
    Before = dump(Phc),
    Nodes = hub_nodes(Phc),
    Good = psd(<<"mf-new">>, spec(<<"mf-new">>, 'Elixir.MyProcess', #{}), Beam, P2, #{}),
    Garbage =
        [{children_registration_event, {not_a_list, Beam, []}},
         {children_registration_event, {[Good], Beam}},
         {children_registration_event, {[Good], Beam, [], extra}},
         {children_registration_event, [Good]},
         {children_registration_event, {[#{has_errors => false}], Beam, []}},
         {children_registration_event, {[Good#{child_nodes := not_a_list}], Beam, []}},
         {children_registration_event, {[Good#{child_nodes := [{Beam}]}], Beam, []}},
         {children_registration_event, {[Good#{child_nodes := [{"n", P2}]}], Beam, []}},
         {children_registration_event, {[42], Beam, []}},
         {children_unregistration_event, {not_a_list, Beam, []}},
         {children_unregistration_event, {[{<<"mf-1">>, ok}], Beam, []}},
         {children_unregistration_event, {[{<<"mf-1">>, ok, Beam}], "beam", []}},
         {children_unregistration_event, {[{<<"mf-1">>, ok, Beam}], Beam}},
         {children_unregistration_event, {[<<"mf-1">>], Beam, []}},
         {children_unregistration_event, <<"mf-1">>},
         {child_process_pid_update_event, {<<"mf-1">>, {Beam, not_a_pid}}},
         {child_process_pid_update_event, {<<"mf-1">>, Beam, P2}},
         {child_process_pid_update_event, {<<"mf-1">>, {"beam", P2}}},
         {child_process_pid_update_event, {<<"mf-1">>}},
         {child_process_pid_update_event, garbage},
         {sync_remote_children_event, {not_a_list, Beam}},
         {sync_remote_children_event, {[{S1, P2}], Beam}},
         {sync_remote_children_event, {[{S1, P2, #{}}], "beam"}},
         {sync_remote_children_event, [{S1, P2, #{}}]},
         {migration_add_event, junk},
         {migration_add_event, {[junk], [{migration_add, true}]}},
         {cluster_join_event, 42},
         {cluster_join_event, "node@host"},
         {cluster_leave_event, {Beam}},
         {distribute_children_event, Beam},
         {unknown_event, Beam},
         {'$gen_cast', {start_children, not_a_list, []}},
         {'$gen_cast', {start_children, [#{child_id => <<"x">>}], []}},
         {'$gen_cast', {start_children, [], not_opts}},
         {'$gen_cast', {stop_children, not_a_list, []}},
         {'$gen_cast', {exec_cast, garbage}},
         {'$gen_cast', {exec_cast, {'Elixir.Nope', nope, [1]}}},
         {'$gen_cast', {no_such_cast, 1, 2}},
         {'$gen_cast', nope},
         {'$gen_call', junk, junk},
         {'$gen_call', {self(), make_ref()}},
         nope, 42, <<"bytes">>, "chars", [], {}, {a, b, c, d, e},
         {<<"not an atom">>, x}, make_ref(), self(),
         {children_registration_event, {[Good], Beam, []}, extra}],
    [to_phc(Config, G) || G <- Garbage],
    barrier(Config),
    ?assertEqual(Before, dump(Phc)),
    ?assertEqual(Nodes, hub_nodes(Phc)),
    ?assertEqual([{<<"mf-1">>, [{Beam, P1}]}], process_list(Phc)),
    ?assertEqual(pong, net_adm:ping(Phc)),
    ?assert(phc_interop:phc_alive(?config(phc, Config))),
    %% a start cast whose children are all malformed: an empty result,
    %% nothing started
    ok = gen_server:cast({?HUB, Phc},
                         {start_children, [junk, #{child_spec => #{}}],
                          start_opts(self(), [], [Phc])}),
    ?assertEqual({collect_start_results, [], Phc},
                 ?RECV({collect_start_results, _, Phc})),
    ?assertEqual(Before, dump(Phc)),
    %% an unknown call gets an error reply (a BEAM coordinator would crash)
    ?assertMatch({error, _}, gen_server:call({?HUB, Phc}, no_such_call)),
    %% and the coordinator still does its job
    to_phc(Config, {children_registration_event, {[Good], Beam, [{members, external}]}}),
    barrier(Config),
    ?assertEqual([{<<"mf-1">>, [{Beam, P1}]}, {<<"mf-new">>, [{Beam, P2}]}],
                 process_list(Phc)),
    S = spec(<<"mf-run">>, phc_counter, 9),
    [{<<"mf-run">>, {ok, Pid}}] = cast_start(Config, [child_data(<<"mf-run">>, S, [Phc], #{})]),
    ?assertEqual(9, gen_server:call(Pid, get)).

%% A migration_add_event with an empty child list is a no-op on a BEAM
%% coordinator (`if length(children) > 0 do lock; StartHandle end`): no
%% lock, no StartHandle, no collect_start_results. phc must not leave its
%% hub locked (a locked hub holds back its periodic sync for up to 60 s),
%% nor after a malformed (non-list) one. Each step is checked from an
%% unlocked hub; {[], [{migration_add, true}]} unlocks a locked phc hub.
empty_migration_does_not_lock(Config) ->
    Phc = phc(Config),
    Locked = fun() -> gen_server:call({?HUB, Phc}, 'is_locked?') end,
    Unlock = fun() ->
                     to_phc(Config, {migration_add_event, {[], [{migration_add, true}]}}),
                     barrier(Config),
                     false = Locked()
             end,
    Step = fun(Name, Msg) ->
                   Unlock(),
                   to_phc(Config, Msg),
                   barrier(Config),
                   {Name, Locked()}
           end,
    Steps = [Step(empty_with_migration_add,
                  {migration_add_event, {[], [{migration_add, true}]}}),
             Step(empty_without_migration_add, {migration_add_event, {[], []}}),
             Step(not_a_list, {migration_add_event, {not_a_list, [{migration_add, true}]}})],
    Unlock(),
    %% no StartHandle for an empty list, so no results to reply_to
    to_phc(Config, {migration_add_event, {[], [{migration_add, true}, {reply_to, [self()]}]}}),
    barrier(Config),
    Replied = receive {collect_start_results, _, Phc} = M -> M after 300 -> none end,
    ct:log("is_locked? after each step: ~p~nreply to an empty migration: ~p",
           [Steps, Replied]),
    ?assertEqual({[{empty_with_migration_add, false}, {empty_without_migration_add, false},
                   {not_a_list, false}], none},
                 {Steps, Replied}).

%% ---------------------------------------------------------------------
%% HotSwap handover ("HotSwap migration")

%% A BEAM node migrates a phc_counter to phc: phc answers the start
%% results, its C child takes the state the old copy sends and confirms to
%% the handler (ProcessHub names the child itself as confirmation_receiver);
%% asked for its state, the child sends it to the receiver and tells the
%% handler retention_handled.
hot_swap_handover_to_phc(Config) ->
    Phc = phc(Config),
    Cid = <<"hs_1">>,
    CD = (child_data(Cid, spec(Cid, phc_counter, 0), [Phc], #{}))#{migration_add => true,
                                                                   reply_to => [self()]},
    to_phc(Config, {migration_add_event, {[CD], [{migration_add, true}, {reply_to, [self()]}]}}),
    {collect_start_results, [{Cid, {ok, New}}], Phc} = ?RECV({collect_start_results, _, Phc}),
    Opts = [{retention_receiver, self()}, {confirmation_receiver, New},
            {confirm_handover, true}, {hub_id, ?HUB}],
    New ! {process_hub, handover, Cid, {5, Opts}},
    ?RECV({process_hub, handover_confirmed, Cid}),
    ?assertEqual(5, gen_server:call(New, get)),
    New ! {process_hub, send_handover_state, self(), Cid, [{retention_receiver, self()}]},
    ?RECV({process_hub, handover, Cid, {5, [{retention_receiver, _}]}}),
    ?RECV({process_hub, retention_handled, Cid}),
    ?assertEqual(5, gen_server:call(New, get)).

%% phc on HotSwap (handover: true) leaves gracefully: each child's state
%% goes to the node that takes it over, as HotSwap's coordinator_shutdown
%% handler sends it (exec_cast ... handle_storage_update).
hot_swap_leave_sends_states(Config) ->
    Phc = phc(Config), Beam = beam(Config),
    ok = wait_until(fun() -> hub_nodes(Phc) =:= lists:sort([Phc, Beam]) end, 5000),
    Cids = [list_to_binary("hl_" ++ integer_to_list(I)) || I <- lists:seq(1, 12)],
    CDs = [child_data(C, spec(C, phc_counter, 0), [Phc], #{}) || C <- Cids],
    ok = gen_server:cast({?HUB, Phc}, {start_children, CDs, start_opts(self(), Cids, [Phc])}),
    {collect_start_results, Results, Phc} = ?RECV({collect_start_results, _, Phc}),
    Here = [{C, P} || {C, {ok, P}} <- Results],
    ct:log("started on phc: ~p", [Here]),
    ?assertNotEqual([], Here),
    [?assertEqual(7, gen_server:call(P, {add, 7})) || {_, P} <- Here],
    phc_interop:stop_phc(?config(phc, Config)),
    {fake, Beam, {'$gen_cast', {exec_cast, {?HOTSWAP, handle_storage_update, [States]}}}} =
        ?RECV({fake, Beam, {'$gen_cast', {exec_cast, _}}}),
    ?assertEqual(lists:sort([{C, {7, []}} || {C, _} <- Here]), lists:sort(States)).
