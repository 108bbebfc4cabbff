defmodule PhcHarness.PhcPartitionTest do
  @moduledoc """
  Partition tolerance: a hub of two BEAM members `a`, `b` and a third member X on StaticQuorum,
  MajorityQuorum or DynamicQuorum. BEAM members are stopped until X's quorum is lost, then started again.
  Each scenario runs twice: with X = phc (joined with no strategy flags, so it adopts the
  hub's strategy) and with X = a BEAM member `c` in phc's place, which is the expected
  behaviour. In partition mode X answers `is_partitioned?` true, its children are stopped,
  starts are refused; when the quorum returns it leaves partition mode and takes children
  again. X is observed from `o`, a BEAM node outside the hub (phc is reached over erpc only).
  Select with `mix test --only partition`.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :partition
  @hub :my_hub
  @pt ProcessHub.Strategy.PartitionTolerance

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  # -- the cluster ------------------------------------------------------------------------------

  defp strat(:static), do: [partition_tolerance_strategy: struct!(@pt.StaticQuorum, quorum_size: 3)]
  defp strat(:majority), do: [partition_tolerance_strategy: struct!(@pt.MajorityQuorum, [])]

  defp strat(:dynamic),
    do: [partition_tolerance_strategy: struct!(@pt.DynamicQuorum, quorum_size: 60, threshold_time: 60)]

  defp up_beam(short, kind, peers) do
    n = start_beam(short)
    for p <- peers, do: true = rpc(n, Node, :connect, [p])
    :ok = start_hub(n, strat(kind))
    n
  end

  # a, b and X (:phc or :beam) in one hub; o watches from outside.
  defp cluster(kind, x_kind) do
    o = start_beam(:o)
    a = start_beam(:a)
    b = start_beam(:b)
    :ok = connect_all([a, b])
    :ok = start_hub(a, strat(kind))
    :ok = start_hub(b, strat(kind))
    eventually(fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end, 15_000)

    x =
      case x_kind do
        :phc ->
          join_phc([a, b])
          eventually(fn -> phc_log() =~ "adopted the hub's strategies" end, 15_000, &phc_log/0)
          phc_node()

        :beam ->
          up_beam(:c, kind, [a, b])
      end

    true = rpc(o, Node, :connect, [x])
    all = Enum.sort([a, b, x])
    eventually(fn -> Enum.all?([a, b], &(hub_nodes(&1) == all)) and x_nodes(o, x) == all end)
    %{o: o, a: a, b: b, x: x, all: all}
  end

  defp x_call(o, x, m, f, args), do: erpc(o, x, m, f, args)
  defp x_nodes(o, x), do: x_call(o, x, ProcessHub, :nodes, [@hub, [:include_local]]) |> Enum.sort()
  defp x_partitioned?(o, x), do: x_call(o, x, ProcessHub, :is_partitioned?, [@hub])
  defp x_plist(o, x), do: x_call(o, x, ProcessHub, :process_list, [@hub, :global]) |> Enum.sort()

  defp alive?(o, pid), do: erpc(o, node(pid), :erlang, :is_process_alive, [pid])

  defp x_pids(o, x) do
    for {_id, nps} <- x_plist(o, x), {^x, pid} <- nps, do: pid
  end

  defp populate(c, prefix, n) do
    res = start(c.a, :phc_counter, n, prefix: prefix)
    assert res.status == :ok, inspect(res)
    res
  end

  # a BEAM member's DynamicQuorum log: [{node, unix_seconds}], newest first
  defp dq_log(n) do
    hub = rpc(n, ProcessHub.Coordinator, :get_hub, [@hub])
    rpc(n, ProcessHub.Service.Storage, :get, [hub.storage.misc, :dynamic_quorum_down_nodes]) || []
  end

  defp specs(prefix, n), do: for(i <- 1..n, do: PhcHarness.child_spec(:phc_counter, "#{prefix}_#{i}"))

  # -- the scenario -----------------------------------------------------------------------------

  # Stop `stop` BEAM members; X must enter partition mode and stop its children.
  # `others`: the BEAM members left, which must be partitioned too before the start below
  # (else they start what X forwards them, as they would with quorum).
  defp lose_quorum(c, stop, others) do
    before = x_pids(c.o, c.x)
    assert before != [], "no child on #{c.x}"
    Enum.each(stop, &stop_beam/1)
    eventually(fn -> x_partitioned?(c.o, c.x) end, 15_000, "#{c.x} never entered partition mode")
    for n <- others, do: eventually(fn -> rpc(n, ProcessHub, :is_partitioned?, [@hub]) end)
    eventually(fn -> not Enum.any?(before, &alive?(c.o, &1)) end, 5_000, "children kept running")
    assert Enum.all?(x_pids(c.o, c.x), &(not alive?(c.o, &1)))
    # a start while partitioned is refused: nothing of it is registered or running on X
    {:ok, :start_initiated} =
      x_call(c.o, c.x, ProcessHub, :start_children, [@hub, specs("late", 6), []])

    Process.sleep(1_500)
    refute Enum.any?(x_plist(c.o, c.x), fn {id, _} -> String.starts_with?(id, "late") end)
    assert x_partitioned?(c.o, c.x)
  end

  # Start the stopped members again; X leaves partition mode and takes children again.
  defp regain_quorum(c, kind, restart) do
    peers = Enum.reject(c.all, &(&1 in restart))
    Enum.each(restart, &up_beam(:"#{hd(String.split(to_string(&1), "@"))}", kind, peers))
    eventually(fn -> x_nodes(c.o, c.x) == c.all end, 20_000, "hub did not re-form")
    eventually(fn -> not x_partitioned?(c.o, c.x) end, 10_000, "#{c.x} stayed partitioned")
    eventually(fn -> not x_call(c.o, c.x, ProcessHub, :is_locked?, [@hub]) end, 10_000)
    for n <- c.all -- [c.x], do: refute(rpc(n, ProcessHub, :is_partitioned?, [@hub]))
    res = populate(c, "healed", 12)
    x = c.x
    on_x = for {_id, nps} <- res.started, {^x, pid} <- nps, do: pid
    assert on_x != [], "no new child went to #{c.x}: #{inspect(res)}"
    assert Enum.all?(on_x, &alive?(c.o, &1))
  end

  for x_kind <- [:phc, :beam] do
    @tag x: x_kind
    test "StaticQuorum quorum_size 3, X = #{x_kind}: b and X lose the quorum when a stops, heal when it returns" do
      c = cluster(:static, unquote(x_kind))
      populate(c, "sq", 12)
      lose_quorum(c, [c.a], [c.b])
      regain_quorum(c, :static, [c.a])
    end

    @tag x: x_kind
    test "MajorityQuorum (max seen 3), X = #{x_kind}: X alone loses the majority, heals when a returns" do
      c = cluster(:majority, unquote(x_kind))
      populate(c, "mq", 12)
      # one member gone: 2 of 3 is still a majority
      stop_beam(c.b)
      eventually(fn -> x_nodes(c.o, c.x) == Enum.sort([c.a, c.x]) end, 15_000)
      refute x_partitioned?(c.o, c.x)
      lose_quorum(c, [c.a], [])
      c = %{c | all: Enum.sort([c.a, c.x])}
      regain_quorum(c, :majority, [c.a])
      mq = Module.concat(@pt, MajorityQuorum)
      assert x_call(c.o, c.x, mq, :reset_cluster_size, [@hub, 2]) == :ok
      # an unknown hub: the call fails (noproc), on a BEAM member as on phc
      failed =
        try do
          x_call(c.o, c.x, mq, :reset_cluster_size, [:no_such_hub, 2])
        catch
          _, _ -> :failed
        end

      assert failed == :failed
    end

    @tag x: x_kind
    test "DynamicQuorum 60% in 60 s, X = #{x_kind}: two downs partition X, the log is synced to a returning node" do
      c = cluster(:dynamic, unquote(x_kind))
      populate(c, "dq", 12)
      # a down: 1 of 3 lost, 67% left >= 60%
      stop_beam(c.a)
      eventually(fn -> x_nodes(c.o, c.x) == Enum.sort([c.b, c.x]) end, 15_000)
      Process.sleep(500)
      refute x_partitioned?(c.o, c.x)
      # b down too within threshold_time: 2 of 3 lost, 33% left
      lose_quorum(c, [c.b], [])
      # a back: X drops a's row and syncs its log [{b, t}] to a; 1 down, 2 up: 67% left, healed
      up_beam(:a, :dynamic, [c.x])
      eventually(fn -> x_nodes(c.o, c.x) == Enum.sort([c.a, c.x]) end, 20_000, "a did not rejoin")
      b = c.b
      eventually(fn -> match?([{^b, _}], dq_log(c.a)) end, 10_000, fn -> "a's quorum log: #{inspect(dq_log(c.a))}" end)
      eventually(fn -> not x_partitioned?(c.o, c.x) end, 10_000, "#{c.x} stayed partitioned")
      # b back: the log is empty everywhere
      regain_quorum(c, :dynamic, [c.b])
      assert dq_log(c.a) == []
    end
  end
end
