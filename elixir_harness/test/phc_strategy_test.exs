defmodule PhcHarness.PhcStrategyTest do
  @moduledoc """
  Strategies taken from the hub: two BEAM members run a hub on non-default strategies
  (the seed guides' Replication), phc-node joins with no strategy flags and must adopt them;
  a phc whose config file names other strategies warns and runs the hub's. A fresh cluster per
  test. Select with `mix test --only strategy` (or `--only adopt`).
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :strategy
  @replication ProcessHub.Strategy.Redundancy.Replication

  defp beam_hub(hub_opts) do
    a = start_beam(:a)
    b = start_beam(:b)
    :ok = connect_all([a, b])
    :ok = start_hub(a, hub_opts)
    :ok = start_hub(b, hub_opts)

    eventually(
      fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end,
      15_000,
      "BEAM hub did not form"
    )

    {a, b}
  end

  defp replication(opts), do: [redundancy_strategy: struct!(@replication, opts)]

  defp config_file(name, hub_opts) do
    File.mkdir_p!("test_logs")
    path = Path.expand("test_logs/#{name}.config")
    File.write!(path, "{hub, my_hub, #{hub_opts}}.\n")
    path
  end

  defp wait_log(pattern) do
    eventually(fn -> phc_log() =~ pattern end, 15_000, fn ->
      "phc log lacks #{inspect(pattern)}:\n" <> phc_log()
    end)
  end

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  describe "adopt" do
    @describetag :adopt

    test "phc with no strategy flags adopts the hub's Replication and says so in one line" do
      {a, b} =
        beam_hub(
          replication(
            replication_factor: 2,
            replication_model: :active_passive,
            redundancy_signal: :all
          )
        )

      join_phc([a, b])
      wait_log("adopted the hub's strategies from")
      [line] = phc_log() |> String.split("\n") |> Enum.filter(&(&1 =~ "adopted the hub's"))
      assert line =~ "redundancy_strategy Replication{"
      assert line =~ "replication_factor: 2"
      assert line =~ "replication_model: active_passive"
      assert line =~ "redundancy_signal: all"
      refute phc_log() =~ "differs from the hub's"
    end

    test "a hub on ProcessHub's defaults: phc keeps its own and says the peers run them" do
      {a, b} = beam_hub([])
      join_phc([a, b])
      wait_log("runs phc's strategies")
      refute phc_log() =~ "adopted the hub's"
    end

    test "configured strategies that disagree with the hub's: a warning naming both, the hub's win" do
      {a, b} = beam_hub(replication(replication_factor: 2))

      cfg =
        config_file(
          "strategy_disagree",
          "[{redundancy_strategy, {'Elixir.ProcessHub.Strategy.Redundancy.Replication', " <>
            "[{replication_factor, 3}]}}]"
        )

      join_phc([a, b], hub: nil, extra_args: ["-config", cfg])
      wait_log("configured redundancy_strategy Replication")

      wait_log(
        "configured redundancy_strategy Replication{replication_factor: 3} differs " <>
          "from the hub's Replication{"
      )

      wait_log("adopted the hub's strategies from")
    end

    test "unknown strategy or option in the config file: named, exit 2" do
      bad = [
        {"Elixir.ProcessHub.Strategy.Redundancy.Replicashun", "[]", "unknown strategy"},
        {"Elixir.ProcessHub.Strategy.Redundancy.Replication", "[{replication_modle, x}]",
         "replication_modle"},
        {"Elixir.ProcessHub.Strategy.Redundancy.Replication", "[{redundancy_signal, sometimes}]",
         "redundancy_signal"}
      ]

      for {{mod, opts, named}, i} <- Enum.with_index(bad) do
        cfg = config_file("strategy_bad_#{i}", "[{redundancy_strategy, {'#{mod}', #{opts}}}]")

        {out, st} =
          System.cmd(phc_path(), ["-name", "bad#{i}@127.0.0.1", "-config", cfg],
            stderr_to_stdout: true
          )

        assert st == 2, out
        assert out =~ named, out
      end
    end
  end

  describe "start and stop over erpc" do
    @describetag :api_ctl

    defp specs(prefix, n),
      do: for(i <- 1..n, do: %{id: "#{prefix}_#{i}", start: {:phc_counter, :start_link, [0]}})

    defp ids(list, prefix),
      do: for({id, _} <- list, String.starts_with?(id, prefix <> "_"), do: id) |> Enum.sort()

    test "start_children/3, start_child/3, stop_children/3, stop_child/3 on phc answer as on a BEAM member" do
      {a, b} = beam_hub([])
      phc = join_phc([a, b])
      call = fn node, f, args -> erpc(a, node, ProcessHub, f, [hub() | args]) end

      # started from phc: placed by the ring, identical lists everywhere
      assert call.(phc, :start_children, [specs("ctl", 12), []]) == {:ok, :start_initiated}
      eventually(fn -> length(ids(agreed([a, b]), "ctl")) == 12 end)
      list = agreed([a, b])
      assert on_phc(list) != []
      assert_all_alive(list, a)

      # the same errors a BEAM member gives
      for f <- [:start_children] do
        assert call.(phc, f, [[], []]) == call.(a, f, [[], []])
        assert call.(phc, f, [specs("ctl", 3), []]) == call.(a, f, [specs("ctl", 3), []])
      end

      assert call.(phc, :start_children, [specs("ctl", 3), []]) ==
               {:error, {:already_started, ["ctl_1", "ctl_2", "ctl_3"]}}

      assert call.(phc, :start_child, [hd(specs("one", 1)), []]) == {:ok, :start_initiated}
      eventually(fn -> ids(agreed([a, b]), "one") == ["one_1"] end)

      assert call.(phc, :start_child, [hd(specs("one", 1)), []]) ==
               call.(a, :start_child, [hd(specs("one", 1)), []])

      # stops: phc's ids and unknown ids, as on BEAM
      assert call.(phc, :stop_children, [["ctl_1", "ctl_2", "nope"], []]) ==
               call.(a, :stop_children, [["nope2"], []])

      assert call.(phc, :stop_child, ["one_1", []]) == {:ok, :stop_initiated}

      eventually(fn ->
        l = agreed([a, b])
        ids(l, "one") == [] and length(ids(l, "ctl")) == 10 and "ctl_1" not in ids(l, "ctl")
      end)

      # awaitable: a Future resolved by phc, awaited on a BEAM member, as a BEAM member's is
      await = fn node, prefix ->
        {:ok, fut} = call.(node, :start_children, [specs(prefix, 6), [awaitable: true]])
        res = rpc(a, ProcessHub.Future, :await, [fut])

        {res.status, res.errors, res.rollback,
         for({id, [{nd, pid}]} <- res.started, do: {id, nd, node(pid) == nd}) |> Enum.sort()}
      end

      {st, errs, rb, got} = await.(phc, "aw")
      assert {st, errs, rb} == await.(a, "awb") |> Tuple.delete_at(3)
      assert {st, errs, rb} == {:ok, [], false}
      assert for({id, _, _} <- got, do: id) == for(i <- 1..6, do: "aw_#{i}")
      assert Enum.all?(got, fn {_, _, ok} -> ok end)
      list = agreed([a, b])
      for {id, nd, _} <- got, do: assert(Keyword.keys(elem(List.keyfind(list, id, 0), 1)) == [nd])

      # the deprecated async_wait: the Future gives StartResult.format/1's answer
      aw = fn node, prefix ->
        {:ok, fut} = call.(node, :start_children, [specs(prefix, 3), [async_wait: true]])
        {:ok, l} = rpc(a, ProcessHub.Future, :await, [fut])
        for {id, [{nd, pid}]} <- l, do: {id, node(pid) == nd}
      end

      assert Enum.sort(aw.(phc, "asw")) == for(i <- 1..3, do: {"asw_#{i}", true})
      assert Enum.sort(aw.(a, "aswb")) == for(i <- 1..3, do: {"aswb_#{i}", true})
    end

    defp bad_spec(id), do: %{id: id, start: {:phc_counter, :no_such_function, []}}

    # A StopResult with node lists and errors sorted (nodes answer in any order).
    defp norm_stop(r),
      do:
        {r.__struct__, r.status,
         for({id, ns} <- r.stopped, do: {id, Enum.sort(ns)}) |> Enum.sort(), Enum.sort(r.errors)}

    test "awaitable stops, async_wait and on_failure: :rollback on phc answer as on a BEAM member" do
      {a, b} = beam_hub([])
      phc = join_phc([a, b])
      call = fn node, f, args -> erpc(a, node, ProcessHub, f, [hub() | args], 60_000) end
      await = fn fut -> rpc(a, ProcessHub.Future, :await, [fut], 120_000) end

      placed = fn prefix, n ->
        r = await.(call.(a, :start_children, [specs(prefix, n), [awaitable: true]]))
        assert r.status == :ok
        # a stop goes where the caller's registry has the child: wait until every member has it
        # (the awaited start resolves before remote registrations reach the caller)
        eventually(fn -> length(ids(agreed([a, b]), prefix)) == n end)
        for {id, [{nd, _}]} <- r.started, into: %{}, do: {id, nd}
      end

      # what a BEAM member's collector gives: each id on its node; every hub node holding
      # none of them stays silent and is a node_receive_timeout
      expect = fn placement ->
        silent = for n <- [a, b, phc], n not in Map.values(placement), do: n

        {ProcessHub.StopResult, if(silent == [], do: :ok, else: :error),
         for({id, nd} <- placement, do: {id, [nd]}) |> Enum.sort(),
         for(n <- silent, do: {:undefined, n, :node_receive_timeout}) |> Enum.sort()}
      end

      for {node, prefix} <- [{a, "sb"}, {phc, "sp"}] do
        p = placed.(prefix, 6)
        r = await.(call.(node, :stop_children, [Map.keys(p), [awaitable: true, timeout: 3000]]))
        assert norm_stop(r) == expect.(p), "stop_children from #{node}: #{inspect({r, p})}"
        eventually(fn -> ids(agreed([a, b]), prefix) == [] end)

        # one child: the two nodes without it time out
        p1 = placed.(prefix <> "1", 1)
        [id] = Map.keys(p1)
        r = await.(call.(node, :stop_child, [id, [awaitable: true, timeout: 2000]]))
        assert norm_stop(r) == expect.(p1), "stop_child from #{node}: #{inspect({r, p1})}"

        # an unknown id: nobody answers
        r = await.(call.(node, :stop_child, ["nope", [awaitable: true, timeout: 500]]))
        assert norm_stop(r) == expect.(%{}), "unknown id from #{node}: #{inspect(r)}"

        # async_wait on stop_child: {error, {FirstError, Stopped}} (return_first)
        p2 = placed.(prefix <> "2", 1)
        [{id2, nd2}] = Map.to_list(p2)
        {:ok, fut} = call.(node, :stop_child, [id2, [async_wait: true, timeout: 2000]])

        assert {:error, {{:undefined, silent, :node_receive_timeout}, [{^id2, [^nd2]}]}} =
                 await.(fut)

        assert silent in ([a, b, phc] -- [nd2])

        # check_existing: false: the request reaches the owners (phc among them), which refuse
        # a running child with {already_started, Pid}
        cands = for i <- 1..40, do: "#{prefix}c_#{i}"
        owner = fn id -> rpc(a, PhcHarness, :owner, [hub(), id]) end

        cids = [
          Enum.find(cands, &(owner.(&1) != phc))
          | Enum.filter(cands, &(owner.(&1) == phc)) |> Enum.take(2)
        ]

        cspecs = for id <- cids, do: %{id: id, start: {:phc_counter, :start_link, [0]}}
        r = await.(call.(a, :start_children, [cspecs, [awaitable: true]]))
        eventually(fn -> Enum.all?(cids, &(&1 in ids(agreed([a, b]), prefix <> "c"))) end)

        want =
          for({id, [{nd, pid}]} <- r.started, do: {id, nd, {:already_started, pid}})
          |> Enum.sort()

        opts = [awaitable: true, check_existing: false, timeout: 3000]
        r = await.(call.(node, :start_children, [cspecs, opts]))
        assert {r.status, r.started, Enum.sort(r.errors)} == {:error, [], want}

        # on_failure: :rollback: one spec fails, the started ones are stopped again
        specs = specs(prefix <> "r", 4) ++ [bad_spec(prefix <> "r_bad")]
        opts = [awaitable: true, on_failure: :rollback, timeout: 2000]
        r = await.(call.(node, :start_children, [specs, opts]))
        assert {r.status, r.rollback} == {:error, true}, inspect(r)

        assert Enum.sort(for {id, _} <- r.started, do: id) ==
                 for(i <- 1..4, do: prefix <> "r_#{i}")

        assert [{bad, _, _}] = r.errors
        assert bad == prefix <> "r_bad"
        # ProcessHub's own rollback stops only what its local registry already holds, so a
        # child just started on another BEAM member may survive it (a ProcessHub race); phc
        # stops each child on the nodes its start result names
        remote = for {id, [{nd, _}]} <- r.started, nd != a, do: id
        left = fn -> ids(agreed([a, b]), prefix <> "r") end

        if node == phc,
          do:
            eventually(fn -> left.() == [] end, 10_000, fn ->
              "rollback left #{inspect(left.())}"
            end),
          else: assert(left.() -- remote == [])

        # rollback without a failure: the StartResult as it is
        r = await.(call.(node, :start_children, [specs(prefix <> "k", 2), opts]))
        assert {r.status, r.rollback, length(r.started)} == {:ok, false, 2}

        # rollback not awaited: start_initiated, and the started ones go away
        specs = specs(prefix <> "n", 3) ++ [bad_spec(prefix <> "n_bad")]

        assert call.(node, :start_children, [specs, [on_failure: :rollback, timeout: 2000]]) ==
                 {:ok, :start_initiated}

        if node == phc, do: eventually(fn -> ids(agreed([a, b]), prefix <> "n") == [] end, 20_000)
      end
    end
  end

  describe "replication" do
    @describetag :replication

    # The third member: phc (no strategy flags) or, as the expected behaviour, a BEAM node.
    defp third(:phc, a, b, _opts), do: join_phc([a, b])

    defp third(:beam, a, b, opts) do
      c = start_beam(:c)
      :ok = connect_all([a, b, c])
      :ok = start_hub(c, opts)
      eventually(fn -> Enum.all?([a, b], &(c in hub_nodes(&1))) end, 20_000, "c did not join")
      c
    end

    # Owner order inside a row is each node's registry insertion order (it differs between
    # BEAM members too), so rows are compared with their owners sorted.
    defp norm(list), do: for({id, nps} <- list, do: {id, Enum.sort(nps)}) |> Enum.sort()
    defp third_plist(:phc, a, _c), do: norm(phc_plist(a))
    defp third_plist(:beam, _a, c), do: norm(plist(c))

    # Every replica knows its mode: ProcessHub's master_node/4 picks the active one.
    defp assert_modes(a, list, strategy) do
      wrong =
        for {id, nps} <- list,
            {node, pid} <- nps,
            master =
              rpc(a, ProcessHub.Strategy.Redundancy.Base, :master_node, [
                strategy,
                nil,
                id,
                Keyword.keys(nps)
              ]),
            want =
              if(strategy.replication_model == :active_active or node == master,
                do: :active,
                else: :passive
              ),
            got = rpc(a, GenServer, :call, [pid, :mode]),
            got != want,
            do: {id, node, got, want}

      assert wrong == [], "replicas with the wrong mode: #{inspect(wrong, limit: 60)}"
    end

    defp replication_scenario(kind, rf, model) do
      opts =
        replication(replication_factor: rf, replication_model: model, redundancy_signal: :all)

      {a, b} = beam_hub(opts)
      c = third(kind, a, b, opts)
      if kind == :phc, do: wait_log("adopted the hub's strategies from")
      prefix = "rep_#{rf}_#{model}"
      res = start(a, :phc_counter, 20, prefix: prefix)
      assert res.status == :ok, inspect(res)

      for {id, nps} <- res.started,
          {node, pid} <- nps,
          node == c,
          do: assert(node(pid) == c, "#{id}: #{inspect(pid)} is not #{c}'s")

      list =
        eventually(
          fn ->
            l = norm(plist(a))

            if l == norm(plist(b)) and l == third_plist(kind, a, c) and
                 rpc(a, PhcHarness, :misplaced_rf, [hub(), rf]) == [],
               do: l
          end,
          30_000,
          fn ->
            la = norm(plist(a))
            lc = third_plist(kind, a, c)

            "#{kind}: lists differ or misplaced: " <>
              inspect(rpc(a, PhcHarness, :misplaced_rf, [hub(), rf]), limit: 100) <>
              "\nonly on a: " <>
              inspect(la -- lc, limit: 50) <>
              "\nonly on #{c}: " <>
              inspect(lc -- la, limit: 50) <>
              "\nb == a: #{norm(plist(b)) == la}"
          end
        )

      assert length(list) == 20
      on_c = for {id, nps} <- list, Keyword.has_key?(nps, c), do: id
      assert on_c != []
      assert_all_alive(list, a)
      assert_modes(a, list, opts[:redundancy_strategy])
      {a, b, c, list}
    end

    for kind <- [:phc, :beam],
        {rf, model} <- [
          {2, :active_active},
          {2, :active_passive},
          {:cluster_size, :active_active}
        ] do
      @tag kind: kind
      @tag rf: rf
      test "#{kind} as third member: rf #{rf}, #{model}: every replica on its ring nodes, lists equal" do
        replication_scenario(unquote(kind), unquote(rf), unquote(model))
      end
    end
  end

  describe "guided" do
    @describetag :guided

    for kind <- [:phc, :beam] do
      @tag kind: kind
      test "#{kind} as third member: children run on their mapped nodes, no migration" do
        kind = unquote(kind)
        opts = [distribution_strategy: struct!(ProcessHub.Strategy.Distribution.Guided)]
        {a, b} = beam_hub(opts)
        c = third(kind, a, b, opts)
        if kind == :phc, do: wait_log("adopted the hub's strategies from")
        nodes = [a, b, c]
        mapping = for i <- 1..9, into: %{}, do: {"g_#{i}", [Enum.at(nodes, rem(i, 3))]}
        res = start(a, :phc_counter, 9, prefix: "g", child_mapping: mapping)
        assert res.status == :ok, inspect(res)

        for {id, [{node, pid}]} <- res.started do
          assert [node] == mapping[id]
          assert node(pid) == node
        end

        list =
          eventually(
            fn ->
              l = norm(plist(a))
              if l == norm(plist(b)) and l == third_plist(kind, a, c), do: l
            end,
            30_000,
            "process_list differs"
          )

        for {id, nps} <- list, do: assert(Keyword.keys(nps) == mapping[id], id)
        assert_all_alive(list, a)

        # started from the third member, with and without a mapping
        via = fn f, args -> erpc(a, c, ProcessHub, f, [hub() | args]) end
        spec = %{id: "g_c", start: {:phc_counter, :start_link, [0]}}
        assert via.(:start_children, [[spec], []]) == {:error, :missing_child_mapping}

        assert via.(:start_children, [[spec], [child_mapping: %{"g_c" => [b]}]]) ==
                 {:ok, :start_initiated}

        eventually(fn ->
          l = norm(plist(a))

          List.keyfind(l, "g_c", 0) != nil and
            Keyword.keys(elem(List.keyfind(l, "g_c", 0), 1)) == [b]
        end)

        assert via.(:start_children, [[spec], [child_mapping: %{"g_c" => [a, b]}]]) ==
                 rpc(a, ProcessHub, :start_children, [
                   hub(),
                   [spec],
                   [child_mapping: %{"g_c" => [a, b]}]
                 ])
      end
    end
  end
end
