defmodule PhcHarness.PhcTopologyTest do
  @moduledoc """
  Topology (join, leave, kill) and formation order, black-box. Each test builds a fresh
  cluster (a, b, phc) and checks that after the topology change every child is running
  exactly where the ring says and `process_list` agrees everywhere.
  Select with `mix test --only topology`.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :topology
  @hub :my_hub
  @n 15

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  defp populate(c) do
    res = start(c.a, :phc_kv, @n, prefix: "topo")
    assert res.status == :ok, inspect(res)
  end

  # Once in about ten runs, right after a kill -9 of phc, both BEAM members
  # agreed on a row that still named phc's dead pid. Wait (up to 30 s) for
  # agreement with every pid alive; a row that stays dead still fails.
  defp assert_stable(beams, phc?) do
    list =
      eventually(
        fn ->
          l = agreed(beams, phc?)
          if length(l) == @n and dead_rows(l, hd(beams)) == [], do: l
        end,
        30_000,
        fn -> "rows with dead pids: #{inspect(dead_rows(agreed(beams, phc?), hd(beams)))}" end
      )

    assert length(list) == @n
    assert_all_alive(list, hd(beams))
    list
  end

  test "children that hash to phc arrive by migration when phc joins" do
    c = start_cluster(phc: false)
    populate(c)
    before = agreed([c.a, c.b], false)
    assert on_phc(before) == []

    join_phc([c.a, c.b])
    list = assert_stable([c.a, c.b], true)
    assert on_phc(list) != []
  end

  test "formation with phc first, then the BEAM members" do
    start_phc(connect: [])
    a = start_beam(:a)
    b = start_beam(:b)
    phc = phc_node()
    :ok = connect_all([a, b])
    true = rpc(a, Node, :connect, [phc])
    :ok = start_hub(a)
    :ok = start_hub(b)
    all = Enum.sort([a, b, phc])
    eventually(fn -> hub_nodes(a) == all and hub_nodes(b) == all end, 20_000, fn -> phc_log() end)

    populate(%{a: a})
    assert on_phc(assert_stable([a, b], true)) != []
  end

  for how <- [:term, :kill] do
    test "phc stopped with #{if how == :term, do: "SIGTERM (graceful)", else: "kill -9"}: its children move to the BEAM members" do
      c = start_cluster()
      populate(c)
      assert on_phc(assert_stable([c.a, c.b], true)) != []

      stop_phc(unquote(how))
      eventually(fn -> hub_nodes(c.a) == [c.a, c.b] and hub_nodes(c.b) == [c.a, c.b] end, 20_000)
      assert on_phc(assert_stable([c.a, c.b], false)) == []
    end
  end

  for how <- [:graceful, :kill] do
    test "BEAM member b #{if how == :graceful, do: "stops gracefully", else: "is killed"}: phc updates its ring and takes its share" do
      c = start_cluster()
      populate(c)
      assert_stable([c.a, c.b], true)

      if unquote(how) == :graceful, do: stop_beam(c.b), else: kill_beam(c.b)
      eventually(fn -> hub_nodes(c.a) == Enum.sort([c.a, c.phc]) end, 20_000)

      eventually(fn ->
        erpc(c.a, c.phc, ProcessHub, :nodes, [@hub, [:include_local]]) |> Enum.sort() ==
          Enum.sort([c.a, c.phc])
      end)

      list = assert_stable([c.a], true)
      refute Enum.any?(list, fn {_, nps} -> Keyword.has_key?(nps, c.b) end)
    end
  end
end
