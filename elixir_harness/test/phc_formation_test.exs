defmodule PhcHarness.PhcFormationTest do
  @moduledoc """
  phc as the seed node: phc-node starts first with the hub, then BEAM members that each
  connect only to phc. phc's `global` makes them meet (connect-all, as a BEAM seed's global
  does), so the hub is whole within a second and every member holds the same registry.
  Select with `mix test --only formation`.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :formation
  @n 15

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  defp ms_until(fun, timeout) do
    t0 = System.monotonic_time(:millisecond)

    eventually(fn -> fun.() end, timeout, fn -> "not whole; phc log:\n" <> phc_log() end)
    System.monotonic_time(:millisecond) - t0
  end

  test "BEAM members that each connect only to phc form one hub within a second" do
    start_phc(connect: [])
    phc = phc_node()
    a = start_beam(:a)
    b = start_beam(:b)
    :ok = start_hub(a)
    :ok = start_hub(b)
    true = rpc(a, Node, :connect, [phc])
    eventually(fn -> hub_nodes(a) == Enum.sort([a, phc]) end, 20_000, fn -> phc_log() end)

    # b knows only phc; a and b meet through phc's global
    true = rpc(b, Node, :connect, [phc])
    all = Enum.sort([a, b, phc])
    meet = ms_until(fn -> b in rpc(a, Node, :list, []) and a in rpc(b, Node, :list, []) end, 10_000)

    whole =
      ms_until(
        fn ->
          hub_nodes(a) == all and hub_nodes(b) == all and
            erpc(a, phc, ProcessHub, :nodes, [hub(), [:include_local]]) |> Enum.sort() == all
        end,
        10_000
      )

    IO.puts("phc-first formation: a and b connected after #{meet} ms, hub whole after #{whole} ms")
    assert meet <= 1_000
    assert whole <= 1_000

    res = start(a, :phc_kv, @n, prefix: "form")
    assert res.status == :ok, inspect(res)
    list = agreed([a, b])
    assert length(list) == @n
    assert on_phc(list) != []
    assert_all_alive(list, a)
  end

  test "a third member that connects only to phc joins the whole hub" do
    start_phc(connect: [])
    phc = phc_node()
    [a, b, c] = for n <- [:a, :b, :c], do: start_beam(n)
    for n <- [a, b, c], do: :ok = start_hub(n)
    true = rpc(a, Node, :connect, [phc])
    true = rpc(b, Node, :connect, [phc])
    all2 = Enum.sort([a, b, phc])
    eventually(fn -> hub_nodes(a) == all2 and hub_nodes(b) == all2 end, 20_000, fn -> phc_log() end)
    res = start(a, :phc_counter, @n, prefix: "form3")
    assert res.status == :ok, inspect(res)
    agreed([a, b])

    true = rpc(c, Node, :connect, [phc])
    all = Enum.sort([a, b, c, phc])
    whole = ms_until(fn -> Enum.all?([a, b, c], &(hub_nodes(&1) == all)) end, 10_000)
    IO.puts("phc-first formation, third member: hub whole after #{whole} ms")
    assert whole <= 1_000
    list = agreed([a, b, c])
    assert length(list) == @n
    assert_all_alive(list, c)
  end
end
