defmodule PhcHarness.PhcBalancerTest do
  @moduledoc """
  CentralizedLoadBalancer with phc as the third member: two BEAM members run a hub on it
  (push_interval 1000 ms); phc joins with no strategy flags, adopts it and pushes its load to
  the leader (a BEAM member: phc runs no elector). The leader's scoreboard must list phc, and
  phc must get the share a BEAM member in its place gets (a third of 30 on an idle hub); the
  children run there and are listed everywhere.
  Select with `mix test --only balancer`.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :balancer
  @lb ProcessHub.Strategy.Distribution.CentralizedLoadBalancer

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  defp strat, do: [distribution_strategy: struct!(@lb, push_interval: 1_000)]

  defp leader(n), do: rpc(n, :elector, :get_leader, [])

  # The leader once every member's elector names the same one and its scoreboard has every
  # member (elections run again as nodes come up, so the leader can change a second after
  # the views first agree). `views` are functions returning one member's view each (phc
  # answers elector:get_leader/0 from its own view, as a BEAM member does).
  defp settled_leader(views, members) do
    eventually(fn ->
      ls = Enum.map(views, & &1.())
      with [{:ok, l} | _] <- ls, 1 <- length(Enum.uniq(ls)),
           true <- map_size(scoreboard(l)) == members, do: l, else: (_ -> false)
    end, 20_000, fn -> "views #{inspect(Enum.map(views, & &1.()))}\n" <> phc_log() end)
  end

  # Two BEAM members a and b running the hub on the balancer.
  defp two_members do
    a = start_beam(:a)
    b = start_beam(:b)
    :ok = connect_all([a, b])
    :ok = start_hub(a, strat())
    :ok = start_hub(b, strat())
    eventually(fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end, 15_000)
    {a, b}
  end

  defp scoreboard(n) do
    hub = rpc(n, ProcessHub.Coordinator, :get_hub, [:my_hub])
    s = rpc(n, ProcessHub.Service.Storage, :get, [hub.storage.misc, :distribution_strategy])
    s.scoreboard
  end

  @tag :beam
  test "a BEAM member in phc's place: its score in the leader's scoreboard, where children go" do
    a = start_beam(:a)
    b = start_beam(:b)
    c = start_beam(:c)
    :ok = connect_all([a, b, c])
    for n <- [a, b, c], do: :ok = start_hub(n, strat())
    eventually(fn -> hub_nodes(a) == [a, b, c] end, 15_000)
    l = settled_leader(for(n <- [a, b, c], do: fn -> leader(n) end), 3)
    IO.puts("balancer (BEAM c): leader #{l}, scoreboard #{inspect(Map.new(scoreboard(l), fn {n, s} -> {n, Float.round(s.current_score, 4)} end))}")
    res = start(l, :phc_counter, 30, prefix: "lb")
    # ProcessHub 0.4.1-beta itself: each member re-asks the leader where its own share
    # belongs (ChildrenAdd.validate_children), the leader spreads that share over all
    # nodes again, so members forward part of it and the result often has status :error
    # with node_receive_timeout from members that forwarded; every child still starts once.
    IO.puts("balancer (BEAM c): start status #{res.status}, errors #{inspect(res.errors)}")
    list = eventually(fn ->
      l1 = plist(a)
      if length(l1) == 30 and plist(b) == l1 and plist(c) == l1, do: l1
    end, 15_000)
    assert Enum.all?(list, fn {_, nps} -> length(nps) == 1 end)
    IO.puts("balancer (BEAM c): placement #{inspect(Enum.frequencies(for {_, [{n, _}]} <- list, do: n))}")
  end

  test "phc reports its load to the leader and the leader places children on it" do
    {a, b} = two_members()
    phc = join_phc([a, b])
    eventually(fn -> phc_log() =~ "adopted the hub's strategies" end, 15_000, &phc_log/0)
    # as with a BEAM member in phc's place: every member scored by the leader
    l = settled_leader([fn -> leader(a) end, fn -> leader(b) end,
                        fn -> erpc(a, phc, :elector, :get_leader, []) end], 3)
    assert l in [a, b]
    IO.puts("balancer: leader #{l}, scoreboard #{inspect(Map.new(scoreboard(l), fn {n, s} -> {n, Float.round(s.current_score, 4)} end))}")
    res = start(l, :phc_counter, 30, prefix: "lb")
    assert res.status == :ok, inspect(res)
    on_phc = for {_id, nps} <- res.started, {^phc, pid} <- nps, do: pid
    IO.puts("balancer: #{length(on_phc)} of 30 children placed on phc")
    # a BEAM member in phc's place gets a third (10 of 30) on an idle hub: every score is
    # far below 1, so capacities (1 - score) are near equal
    assert length(on_phc) in 7..13, "phc got #{length(on_phc)} of 30"
    assert Enum.all?(on_phc, &rpc(a, PhcHarness, :alive?, [&1]))
    list = eventually(fn ->
      l1 = plist(a)
      if length(l1) == 30 and plist(b) == l1 and phc_plist(a) == l1, do: l1
    end, 10_000)
    assert length(list) == 30
    IO.puts("balancer: placement #{inspect(Enum.frequencies(for {_, [{n, _}]} <- list, do: n))}")
  end

  # A member goes down: every remaining member asks the leader where the down node's
  # children belong now and starts those placed on itself.
  defp down_case(label, x, view_x) do
    {a, b} = two_members()
    x = x.(a, b)
    l = settled_leader([fn -> leader(a) end, fn -> leader(b) end, fn -> view_x.(a, x) end], 3)
    assert l in [a, b]
    other = if l == a, do: b, else: a
    res = start(l, :phc_counter, 30, prefix: "lbd")
    list0 = eventually(fn -> l1 = plist(l); if length(l1) == 30, do: l1 end, 15_000)
    IO.puts("balancer down (#{label}): status #{res.status}, placement #{inspect(Enum.frequencies(for {_, [{n, _}]} <- list0, do: n))}; killing #{other}")
    kill_beam(other)
    t0 = System.monotonic_time(:millisecond)
    whole = fn l1 ->
      length(l1) == 30 and Enum.all?(l1, fn {_, nps} -> Enum.all?(nps, fn {n, _} -> n != other end) end)
    end
    list = poll_until(fn -> plist(l) end, whole, 20_000)
    IO.puts("balancer down (#{label}): #{length(list)} of 30 listed on #{l} after " <>
              "#{System.monotonic_time(:millisecond) - t0} ms: " <>
              inspect(Enum.frequencies(for {_, [{n, _}]} <- list, do: n)))
    {l, x, list, Enum.count(list, fn {_, [{n, _}]} -> n == x end) -
       Enum.count(list0, fn {_, [{n, _}]} -> n == x end)}
  end

  defp poll_until(f, ok?, ms) do
    v = f.()
    cond do
      ok?.(v) or ms <= 0 -> v
      true -> Process.sleep(100); poll_until(f, ok?, ms - 100)
    end
  end

  # ProcessHub 0.4.1-beta itself: each survivor asks the leader separately and the answers
  # differ (the scoreboard moves between them), so children can be lost (27 of 30 seen):
  # printed, not asserted.
  @tag :beam
  test "a BEAM member in phc's place: a member goes down, its children restart" do
    down_case("BEAM c", fn a, b ->
      c = start_beam(:c)
      :ok = connect_all([a, b, c])
      :ok = start_hub(c, strat())
      eventually(fn -> hub_nodes(a) == [a, b, c] end, 15_000)
      c
    end, fn _a, c -> leader(c) end)
  end

  test "a member goes down: phc asks the leader and starts the children placed on it" do
    {l, phc, list, gained} = down_case("phc", fn a, b -> join_phc([a, b]) end,
      fn a, phc -> erpc(a, phc, :elector, :get_leader, []) end)
    assert length(list) == 30, "#{length(list)} of 30 after the nodedown\n" <> phc_log()
    eventually(fn -> phc_plist(l) == list end, 10_000)
    # the leader spreads the down member's children over the two left: phc starts its part
    assert gained > 0, "phc started none of the down member's children"
    for {_, [{n, pid}]} <- list, n == phc, do: assert(rpc(l, PhcHarness, :alive?, [pid]))
  end
end
