defmodule PhcHarness.PhcHandoverTest do
  @moduledoc """
  HotSwap state handover in every direction, against a hub of two BEAM members on
  `ProcessHub.Strategy.Migration.HotSwap` (`handover: true`, with and without
  `confirm_handover`), phc-node joining with no strategy flags:

    * BEAM → third member when it joins: counters arrive with their values;
    * third member → BEAM when it stops gracefully: its counters arrive with their values;
    * C → C between two phc-nodes (a hub of phc-nodes only, driven from a BEAM client);

  each scenario with phc as the third member and, as the expected behaviour, a BEAM node in
  its place. The join of the confirm case is timed (until both BEAM members have run their
  post_nodes_redistribution hook) and printed. Also: the redundancy re-signal after a join and a
  leave under Replication `:active_passive`. Select with `mix test --only handover` (or
  `--only resignal`); one test at a time with `--only case:phc_true` (`phc_false`,
  `beam_true`, `beam_false`, `c2c_true`, `c2c_false`, `resignal_phc`, `resignal_beam`).
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  alias ProcessHub.Service.HookManager

  @moduletag :phc
  @moduletag :handover
  @hotswap ProcessHub.Strategy.Migration.HotSwap
  @replication ProcessHub.Strategy.Redundancy.Replication

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

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

  defp hotswap(opts), do: [migration_strategy: struct!(@hotswap, [handover: true] ++ opts)]

  # The third member: phc (no strategy flags) or, as the expected behaviour, a BEAM node.
  defp third(:phc, a, b, _opts) do
    phc = join_phc([a, b])

    eventually(fn -> phc_log() =~ "adopted the hub's strategies from" end, 15_000, fn ->
      "phc did not adopt HotSwap:\n" <> phc_log()
    end)

    phc
  end

  defp third(:beam, a, b, opts) do
    c = start_beam(:c)
    :ok = connect_all([a, b, c])
    :ok = start_hub(c, opts)
    eventually(fn -> Enum.all?([a, b], &(c in hub_nodes(&1))) end, 20_000, "c did not join")
    c
  end

  defp stop_third(:phc, _c), do: :ok = stop_phc(:term)
  defp stop_third(:beam, c), do: :ok = stop_beam(c)

  # Each counter i is set to 4 + i (counter "ho_1" holds 5), one call per child.
  defp set_values(a, prefix, n) do
    eventually(fn -> length(plist(a)) == n end, 15_000, "children not registered on a")

    for i <- 1..n,
        do: assert(rpc(a, PhcHarness, :call, ["#{prefix}_#{i}", {:add, 4 + i}]) == 4 + i)

    :ok
  end

  defp value(a, pid), do: rpc(a, GenServer, :call, [pid, :get])

  # Every row of list has one owner, on one of nodes, alive, holding 4 + i.
  defp assert_values(a, list, prefix) do
    wrong =
      for {id, [{node, pid}]} <- list,
          i = String.replace_prefix(id, prefix <> "_", ""),
          got = value(a, pid),
          got != 4 + String.to_integer(i),
          do: {id, node, got}

    assert wrong == [], "counters with a lost state: #{inspect(wrong, limit: 60)}"
  end

  defp single_owner(list), do: Enum.all?(list, fn {_, nps} -> length(nps) == 1 end)

  defp settled(beams, n, extra) do
    eventually(
      fn ->
        l = plist(hd(beams))

        if length(l) == n and single_owner(l) and misplaced(hd(beams)) == [] and
             Enum.all?(tl(beams), &(plist(&1) == l)) and extra.(l),
           do: l
      end,
      60_000,
      fn -> "hub did not settle: " <> inspect(Enum.map(beams, &plist/1), limit: 200) end
    )
  end

  # fun's first truthy value within timeout ms, or nil.
  defp soon(fun, timeout) do
    deadline = System.monotonic_time(:millisecond) + timeout

    Stream.repeatedly(fn ->
      v = fun.()
      if !v, do: Process.sleep(100)
      v
    end)
    |> Enum.find(fn v -> v || System.monotonic_time(:millisecond) > deadline end)
  end

  # phc: every phase is asserted. A BEAM node in phc's place (the expected behaviour): each
  # phase runs and its outcome is printed, as ProcessHub 0.4.1-beta fails some of them itself
  # (see "HotSwap migration" in docs/processhub-wire-protocol.md).
  defp gate(:phc, _what, fun), do: fun.()

  defp gate(:beam, what, fun) do
    fun.()
    IO.puts("BEAM in phc's place: #{what}: ok")
  rescue
    e in ExUnit.AssertionError ->
      IO.puts("BEAM in phc's place: #{what}: FAILED: " <> String.slice(e.message, 0, 400))
  end

  defp collect_redistribution(nodes, tag) do
    for n <- nodes do
      name = :"redist_#{tag}_#{:erlang.phash2(n)}"
      pid = rpc(n, PhcHarness.HookCollector, :start, [name])
      h = struct!(HookManager, id: :phc_ho, m: :erlang, f: :send, a: [pid, :_], p: 0)

      :ok =
        rpc(n, ProcessHub, :register_hook_handlers, [hub(), :post_nodes_redistribution_hook, [h]])

      {n, name}
    end
  end

  defp redistributed?(cols, up) do
    Enum.all?(cols, fn {n, name} ->
      {:nodeup, up} in rpc(n, PhcHarness.HookCollector, :messages, [name])
    end)
  end

  describe "HotSwap handover" do
    for kind <- [:phc, :beam], confirm <- [false, true] do
      @tag kind: kind
      @tag confirm: confirm
      @tag case: "#{kind}_#{confirm}"
      test "#{kind} as third member, confirm_handover #{confirm}: state survives migration both ways" do
        kind = unquote(kind)
        opts = hotswap(confirm_handover: unquote(confirm), retention: 3_000)
        {a, b} = beam_hub(opts)
        n = 20
        assert start(a, :phc_counter, n, prefix: "ho").status == :ok
        set_values(a, "ho", n)
        cols = collect_redistribution([a, b], "#{kind}#{unquote(confirm)}")

        # join: BEAM -> third; timed until both BEAM members finished the redistribution.
        # With a BEAM node in phc's place and confirm_handover, ProcessHub's own migration
        # waits out retention per child (the confirmation goes to the new child itself) and
        # its NodeUp task times out: the hook never comes, which is printed, not asserted.
        t0 = System.monotonic_time(:millisecond)
        c = third(kind, a, b, opts)
        done = soon(fn -> redistributed?(cols, c) end, 40_000)
        ms = System.monotonic_time(:millisecond) - t0
        confirm = unquote(confirm)

        IO.puts(
          "\nhandover join timing: #{kind}, confirm_handover #{confirm}: " <>
            if(done, do: "#{ms} ms", else: "no post_nodes_redistribution within #{ms} ms")
        )

        gate(kind, "join, confirm_handover #{confirm}", fn ->
          assert done, "no post_nodes_redistribution"

          list =
            settled([a, b], n, fn l ->
              Enum.any?(l, fn {_, nps} -> Keyword.has_key?(nps, c) end)
            end)

          assert for({_, [{^c, _}]} <- list, do: 1) != []
          assert_values(a, list, "ho")
        end)

        # graceful stop: third -> BEAM
        stop_third(kind, c)

        gate(kind, "graceful leave, confirm_handover #{confirm}", fn ->
          eventually(fn -> hub_nodes(a) == [a, b] end, 20_000, "third did not leave")

          list =
            settled([a, b], n, fn l -> Enum.all?(l, fn {_, [{nd, _}]} -> nd in [a, b] end) end)

          assert_values(a, list, "ho")
        end)
      end
    end
  end

  describe "phc_kv" do
    @tag case: "kv_phc"
    test "a phc_kv map survives BEAM -> phc on join and phc -> BEAM on SIGTERM" do
      opts = hotswap(retention: 3_000)
      {a, b} = beam_hub(opts)
      n = 12
      assert start(a, :phc_kv, n, prefix: "kv").status == :ok
      eventually(fn -> length(plist(a)) == n end, 15_000, "kv children not registered")

      for i <- 1..n,
          do:
            assert(rpc(a, PhcHarness, :call, ["kv_#{i}", {:put, :k, %{i: i, s: "v#{i}"}}]) == :ok)

      check = fn list ->
        wrong =
          for {id, [{nd, pid}]} <- list,
              i = String.to_integer(String.replace_prefix(id, "kv_", "")),
              got = rpc(a, GenServer, :call, [pid, {:get, :k}]),
              got != %{i: i, s: "v#{i}"},
              do: {id, nd, got}

        assert wrong == [], "maps lost: #{inspect(wrong)}"
      end

      phc = third(:phc, a, b, opts)
      list = settled([a, b], n, fn l -> Enum.any?(l, fn {_, [{nd, _}]} -> nd == phc end) end)
      check.(list)
      :ok = stop_phc(:term)
      eventually(fn -> hub_nodes(a) == [a, b] end, 20_000, "phc did not leave")
      list = settled([a, b], n, fn l -> Enum.all?(l, fn {_, [{nd, _}]} -> nd in [a, b] end) end)
      check.(list)
    end
  end

  describe "phc as the migration source" do
    @describetag :source

    for confirm <- [false, true] do
      @tag confirm: confirm
      @tag case: "source_#{confirm}"
      test "a BEAM member joins, confirm_handover #{confirm}: phc's counters move there with their values" do
        opts = hotswap(confirm_handover: unquote(confirm), retention: 3_000)
        {a, b} = beam_hub(opts)
        phc = third(:phc, a, b, opts)
        n = 24
        assert start(a, :phc_counter, n, prefix: "src").status == :ok
        set_values(a, "src", n)
        before = settled([a, b], n, fn _ -> true end)
        assert for({_, [{^phc, _}]} <- before, do: 1) != []

        t0 = System.monotonic_time(:millisecond)
        c = third(:beam, a, b, opts)

        list =
          settled([a, b], n, fn l ->
            Enum.any?(l, fn {id, [{nd, _}]} ->
              nd == c and match?({_, [{^phc, _}]}, List.keyfind(before, id, 0))
            end)
          end)

        IO.puts(
          "\nphc as source, confirm_handover #{unquote(confirm)}: settled after " <>
            "#{System.monotonic_time(:millisecond) - t0} ms"
        )

        moved =
          for {id, [{^c, _}]} <- list,
              match?({_, [{^phc, _}]}, List.keyfind(before, id, 0)),
              do: id

        assert moved != []
        assert_values(a, list, "src")
        refute phc_log() =~ "handover confirmation timeout"
      end
    end
  end

  describe "C to C" do
    @describetag :c2c

    defp config_file(name, hub_opts) do
      File.mkdir_p!("test_logs")
      path = Path.expand("test_logs/#{name}.config")
      File.write!(path, "{hub, my_hub, #{hub_opts}}.\n")
      path
    end

    defp phc_plist_of(a, phc),
      do: erpc(a, phc, ProcessHub, :process_list, [hub(), :global]) |> Enum.sort()

    for confirm <- [false, true] do
      @tag confirm: confirm
      @tag case: "c2c_#{confirm}"
      test "two phc-nodes, confirm_handover #{confirm}: counters keep their values when one joins and when it stops" do
        a = start_beam(:a)
        p1 = node_name(:phc)
        p2 = node_name(:phc2)

        cfg =
          config_file(
            "handover_c2c",
            "[{hubs_discover_interval, 1000}, {migration_strategy, {'#{@hotswap}', " <>
              "[{handover, true}, {confirm_handover, #{unquote(confirm)}}, {retention, 3000}]}}]"
          )

        start_phc(hub: nil, connect: [a], extra_args: ["-config", cfg])
        eventually(fn -> erpc(a, p1, ProcessHub, :nodes, [hub(), [:include_local]]) == [p1] end)
        n = 12
        specs = for i <- 1..n, do: PhcHarness.child_spec(:phc_counter, "cc_#{i}")

        assert erpc(a, p1, ProcessHub, :start_children, [hub(), specs, []]) ==
                 {:ok, :start_initiated}

        eventually(fn -> length(phc_plist_of(a, p1)) == n end)

        for {id, [{_, pid}]} <- phc_plist_of(a, p1),
            "cc_" <> i = id,
            do: assert(rpc(a, GenServer, :call, [pid, {:add, 4 + String.to_integer(i)}]) > 0)

        # phc2 joins: children C -> C
        start_phc(hub: nil, short: :phc2, connect: [a, p1], extra_args: ["-config", cfg])

        same = fn ->
          l1 = phc_plist_of(a, p1)
          l2 = phc_plist_of(a, p2)
          if l1 == l2 and length(l1) == n and single_owner(l1), do: l1
        end

        list =
          eventually(
            fn ->
              l = same.()
              if l && Enum.any?(l, fn {_, [{nd, _}]} -> nd == p2 end), do: l
            end,
            30_000,
            fn -> "phc2 got nothing:\n" <> phc_log(:phc2) end
          )

        assert_values(a, list, "cc")

        # phc2 stops gracefully: children C -> C again
        :ok = stop_phc(:term, :phc2)

        list =
          eventually(
            fn ->
              l = phc_plist_of(a, p1)

              if length(l) == n and Enum.all?(l, fn {_, nps} -> Keyword.keys(nps) == [p1] end),
                do: l
            end,
            30_000,
            fn -> "children did not come back to phc:\n" <> phc_log() end
          )

        assert_values(a, list, "cc")
      end
    end
  end

  describe "redundancy re-signal" do
    @describetag :resignal

    # Replicas (on `on`) whose last redundancy signal is not what ProcessHub's master_node/4
    # picks for the row's current nodes.
    defp wrong_modes(a, list, strategy, on) do
      for {id, nps} <- list,
          {node, pid} <- nps,
          node in on,
          master =
            rpc(a, ProcessHub.Strategy.Redundancy.Base, :master_node, [
              strategy,
              nil,
              id,
              Keyword.keys(nps)
            ]),
          want = if(node == master, do: :active, else: :passive),
          got = rpc(a, GenServer, :call, [pid, :mode]),
          got != want,
          do: {id, node, got, want}
    end

    defp modes_follow(kind, what, a, c, strategy, beams) do
      gate(kind, what, fn ->
        eventually(
          fn ->
            l = plist(a)

            rpc(a, PhcHarness, :misplaced_rf, [hub(), 2]) == [] and
              Enum.any?(l, fn {_, nps} -> Keyword.has_key?(nps, c) end) and
              wrong_modes(a, l, strategy, [c]) == []
          end,
          30_000,
          fn ->
            "#{what}: wrong modes on #{c}: " <> inspect(wrong_modes(a, plist(a), strategy, [c]))
          end
        )
      end)

      # ProcessHub signals only the children its redistribution handles: the BEAM members'
      # replicas are reported, not asserted.
      IO.puts(
        "\n#{kind}, #{what}: replicas on BEAM members with a stale mode: " <>
          inspect(length(wrong_modes(a, plist(a), strategy, beams)))
      )
    end

    for kind <- [:phc, :beam] do
      @tag kind: kind
      @tag case: "resignal_#{kind}"
      test "#{kind} as third member: its active_passive modes follow a join and a leave" do
        kind = unquote(kind)

        strategy =
          struct!(@replication,
            replication_factor: 2,
            replication_model: :active_passive,
            redundancy_signal: :all
          )

        opts = [redundancy_strategy: strategy]
        {a, b} = beam_hub(opts)
        assert start(a, :phc_counter, 20, prefix: "rs").status == :ok
        c = third(kind, a, b, opts)
        modes_follow(kind, "after its join", a, c, strategy, [a, b])

        # b leaves gracefully: the third member's replicas whose nodes change are re-signalled
        :ok = stop_beam(b)
        eventually(fn -> hub_nodes(a) == [a, c] end, 20_000, "b did not leave")
        modes_follow(kind, "after b left", a, c, strategy, [a])
      end
    end
  end
end
