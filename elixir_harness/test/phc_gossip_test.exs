defmodule PhcHarness.PhcGossipTest do
  @moduledoc """
  Gossip synchronization with phc as the third member. Two BEAM members run a hub on
  `%Gossip{sync_interval: 1000}`; phc joins with no strategy flags and adopts it. Registries must
  converge on all three members as fast as with a BEAM member in phc's place (the same
  scenario is run with X = a BEAM member `c`), and the periodic round must repair a row deleted
  on a BEAM member, also when phc sorts first (restricted_init lets only phc start rounds).
  Select with `mix test --only gossip`.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :gossip
  @hub :my_hub
  @gossip ProcessHub.Strategy.Synchronization.Gossip

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  defp strat, do: [synchronization_strategy: struct!(@gossip, sync_interval: 1_000)]

  defp cluster(names, x_kind) do
    [a, b] = for n <- names, do: start_beam(n)
    :ok = connect_all([a, b])
    :ok = start_hub(a, strat())
    :ok = start_hub(b, strat())
    eventually(fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end, 15_000)

    x =
      case x_kind do
        :phc ->
          join_phc([a, b])
          eventually(fn -> phc_log() =~ "adopted the hub's strategies" end, 15_000, &phc_log/0)
          phc_node()

        :beam ->
          c = start_beam(:c)
          :ok = connect_all([a, b, c])
          :ok = start_hub(c, strat())
          c
      end

    all = Enum.sort([a, b, x])
    eventually(fn -> hub_nodes(a) == all and hub_nodes(b) == all end, 20_000)
    {a, b, x}
  end

  defp x_plist(via, x) do
    if x == phc_node(), do: phc_plist(via), else: plist(x)
  end

  # ms until process_list is the same on a, b and x with n rows
  defp converge_ms(a, b, x, n, t0) do
    eventually(
      fn ->
        l = plist(a)
        length(l) == n and plist(b) == l and x_plist(a, x) == l
      end,
      15_000,
      fn -> "not converged: #{inspect(for m <- [a, b], do: length(plist(m)))} phc log:\n" <> phc_log() end
    )

    System.monotonic_time(:millisecond) - t0
  end

  for x_kind <- [:phc, :beam] do
    @tag x: x_kind
    test "starts from every member reach every registry, X = #{x_kind}" do
      {a, b, x} = cluster([:a, :b], unquote(x_kind))
      t0 = System.monotonic_time(:millisecond)
      assert start(a, :phc_counter, 20, prefix: "ga").status == :ok
      ms = converge_ms(a, b, x, 20, t0)
      IO.puts("gossip #{unquote(x_kind)}: 20 starts from a converged in #{ms} ms")
      assert ms <= 2_500
      # starts made on phc's side: casts phc handles itself and propagates
      t1 = System.monotonic_time(:millisecond)
      assert start(b, :phc_counter, 10, prefix: "gb").status == :ok
      ms = converge_ms(a, b, x, 30, t1)
      IO.puts("gossip #{unquote(x_kind)}: 10 more from b converged in #{ms} ms")
      assert ms <= 2_500
      on_x = for {_, nps} <- plist(a), {^x, _} <- nps, do: 1
      assert on_x != []
      # a stop: the unregistration reaches every registry
      [{id, _} | _] = Enum.filter(plist(a), fn {_, nps} -> Keyword.has_key?(nps, x) end)
      # (awaited, ProcessHub's stop never answers on a Gossip hub, BEAM or phc: not awaited)
      {:ok, :stop_initiated} = rpc(a, ProcessHub, :stop_children, [@hub, [id], []])
      converge_ms(a, b, x, 29, System.monotonic_time(:millisecond))
    end
  end

  test "periodic rounds repair a row deleted on a BEAM member, phc starting them (sorts first)" do
    {q, r, x} = cluster([:q, :r], :phc)
    assert Atom.to_string(x) < Atom.to_string(q)
    assert start(q, :phc_counter, 12, prefix: "gr").status == :ok
    converge_ms(q, r, x, 12, System.monotonic_time(:millisecond))
    # drop a row (one that runs on phc) from r's registry behind ProcessHub's back
    {id, _} = Enum.find(plist(q), fn {_, nps} -> Keyword.has_key?(nps, x) end)
    rpc(r, ProcessHub.Service.ProcessRegistry, :delete, [@hub, id])
    assert length(plist(r)) == 11
    t0 = System.monotonic_time(:millisecond)
    eventually(fn -> length(plist(r)) == 12 end, 10_000, fn -> "not repaired:\n" <> phc_log() end)
    IO.puts("gossip: row repaired on r by a round phc started in #{System.monotonic_time(:millisecond) - t0} ms")
    assert plist(r) == plist(q)
  end
end
