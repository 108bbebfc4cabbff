defmodule PhcHarness.PhcHiddenTest do
  @moduledoc """
  phc-node with `-hidden` as a hub member (the hidden-member procedure of the protocol
  reference's "Running as a hidden node"): BEAM members see it only in `Node.list(:hidden)`,
  yet it joins the hub (pg discover from its side, cluster_join_event), gets its share of
  children, leaves gracefully, and after a kill -9 it rejoins cleanly by announcing its own
  leave first (the restart procedure); members that join later are found by asking a
  member's `ProcessHub.nodes/1` every discovery round. Select with `mix test --only hidden`.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :hidden
  @n 12

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  defp beams do
    a = start_beam(:a)
    b = start_beam(:b)
    :ok = connect_all([a, b])
    :ok = start_hub(a)
    :ok = start_hub(b)
    eventually(fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end, 15_000)
    {a, b}
  end

  defp join_hidden(a, b) do
    phc = phc_node()
    start_phc(connect: [a, b], extra_args: ["-hidden", "-hubs_discover_interval", "1000"])
    all = Enum.sort([a, b, phc])
    eventually(fn -> phc in rpc(a, Node, :list, [:hidden]) and phc in rpc(b, Node, :list, [:hidden]) end)

    eventually(
      fn -> hub_nodes(a) == all and hub_nodes(b) == all end,
      20_000,
      fn -> "hidden phc did not join; log:\n" <> phc_log() end
    )

    assert phc in rpc(a, Node, :list, [:hidden])
    refute phc in rpc(a, Node, :list, [])
    phc
  end

  test "a hidden phc joins, holds children, leaves gracefully" do
    {a, b} = beams()
    assert start(a, :phc_counter, @n, prefix: "hid").status == :ok
    phc = join_hidden(a, b)
    list = agreed([a, b])
    assert length(list) == @n
    assert on_phc(list) != []
    assert_all_alive(list, a)

    stop_phc(:term)
    eventually(fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end, 20_000)
    list = agreed([a, b], false)
    assert length(list) == @n
    assert on_phc(list) == []
    assert_all_alive(list, a)
    refute phc in rpc(a, Node, :list, [:hidden])
  end

  test "a member that joins later is found and joined by the hidden phc" do
    {a, b} = beams()
    assert start(a, :phc_counter, @n, prefix: "hidn").status == :ok
    phc = join_hidden(a, b)
    c = start_beam(:c)
    :ok = start_hub(c)
    true = rpc(c, Node, :connect, [a])
    all = Enum.sort([a, b, c, phc])

    eventually(
      fn -> Enum.all?([a, b, c], &(hub_nodes(&1) == all)) end,
      20_000,
      fn -> "c: #{inspect(hub_nodes(c))}; phc log:\n" <> phc_log() end
    )

    assert phc in rpc(c, Node, :list, [:hidden])
    list = agreed([a, b, c])
    assert length(list) == @n
    assert on_phc(list) != []
    assert_all_alive(list, c)
  end

  test "after a kill -9 a hidden phc announces its leave, then rejoins" do
    {a, b} = beams()
    assert start(a, :phc_counter, @n, prefix: "hidk").status == :ok
    phc = join_hidden(a, b)
    assert on_phc(agreed([a, b])) != []

    stop_phc(:kill)
    # the limit: BEAM members never see a hidden node go down
    Process.sleep(1_000)
    assert phc in hub_nodes(a)
    assert dead_rows(plist(a), a) != []

    join_hidden(a, b)
    # stale rows of the killed run (dead pids) are gone, phc's share is back
    list =
      eventually(
        fn ->
          l = agreed([a, b])
          if length(l) == @n and dead_rows(l, a) == [] and on_phc(l) != [], do: l
        end,
        30_000,
        fn -> "rows: #{inspect(agreed([a, b]))}; dead: #{inspect(dead_rows(agreed([a, b]), a))}" end
      )

    assert length(list) == @n
    assert on_phc(list) != []
    assert_all_alive(list, a)
  end
end
