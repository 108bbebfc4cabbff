defmodule PhcHarness.PhcInteropTest do
  @moduledoc """
  phc as a hub member (membership, ring parity, registry mirror, children, hooks, ProcessHub's
  API over erpc), black-box: two BEAM members run real ProcessHub, phc-node joins as the third
  member. One cluster for the whole module; every test uses its own child ids. Select with
  `mix test --only phc` or by tag (`--only membership`, `ring`, `registry`, `children`,
  `hooks`, `api`). Topology (join, leave, kill) is in phc_topology_test.exs.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase
  alias ProcessHub.Service.HookManager

  @moduletag :phc
  @hub :my_hub
  @groups ~w(distribute_children_event cluster_join_event cluster_leave_event
             sync_remote_children_event children_registration_event
             children_unregistration_event migration_add_event
             child_process_pid_update_event)a

  setup_all do
    on_exit(fn -> stop_all() end)
    start_cluster()
  end

  describe "membership" do
    @describetag :membership

    test "phc is a hub member on every BEAM node and sees the same members", c do
      all = Enum.sort([c.a, c.b, c.phc])
      assert hub_nodes(c.a) == all
      assert hub_nodes(c.b) == all
      assert erpc(c.a, c.phc, ProcessHub, :nodes, [@hub, [:include_local]]) |> Enum.sort() == all
    end

    test "phc's coordinator is in all eight pg groups of the hub scope", c do
      scope = :"hub.#{@hub}.event_queue_pg"

      for node <- [c.a, c.b], group <- @groups do
        members = rpc(node, :pg, :get_members, [scope, group])

        assert Enum.count(members, &(node(&1) == c.phc)) == 1,
               "#{group} on #{node}: #{inspect(members)}"
      end
    end

    test "phc registers the hub coordinator and scope names", c do
      assert rpc(c.a, PhcHarness, :alive?, [{@hub, c.phc}])
      assert rpc(c.a, PhcHarness, :alive?, [{:"hub.#{@hub}.event_queue_pg", c.phc}])
    end
  end

  describe "ring parity" do
    @describetag :ring

    test "every child runs on the node ProcessHub's ring picks, phc included", c do
      res = start(c.a, :phc_counter, 15, prefix: "ring")
      assert res.status == :ok, inspect(res)
      list = agreed([c.a, c.b])
      assert misplaced(c.a) == []
      assert misplaced(c.b) == []
      assert on_phc(list) != [], "no child hashed to phc: #{inspect(list)}"

      for {id, [{node, _}]} <- res.started do
        assert rpc(c.b, PhcHarness, :owner, [@hub, id]) == node
      end
    end
  end

  describe "registry mirror" do
    @describetag :registry

    test "process_list, registry_dump and tag_query are identical on all three nodes", c do
      res = start(c.a, :phc_kv, 9, prefix: "reg", metadata: %{tag: "reg_tag"})
      assert res.status == :ok, inspect(res)
      agreed([c.a, c.b])

      dump_a = rpc(c.a, ProcessHub, :registry_dump, [@hub])
      assert rpc(c.b, ProcessHub, :registry_dump, [@hub]) == dump_a
      assert erpc(c.a, c.phc, ProcessHub, :registry_dump, [@hub]) == dump_a

      tags_a = rpc(c.a, ProcessHub, :tag_query, [@hub, "reg_tag"]) |> Enum.sort()
      assert length(tags_a) == 9
      assert erpc(c.b, c.phc, ProcessHub, :tag_query, [@hub, "reg_tag"]) |> Enum.sort() == tags_a
    end

    test "process_list comes in a BEAM member's order above 32 children", c do
      res = start(c.a, :phc_counter, 100, prefix: "order")
      assert res.status == :ok, inspect(res)
      agreed([c.a, c.b])

      # unsorted: a BEAM member returns its map's hash order, which phc reproduces
      beam = rpc(c.a, ProcessHub, :process_list, [@hub, :global])
      assert length(beam) >= 100
      assert beam != Enum.sort(beam)
      assert rpc(c.b, ProcessHub, :process_list, [@hub, :global]) == beam
      assert erpc(c.a, c.phc, ProcessHub, :process_list, [@hub, :global]) == beam
      assert erpc(c.b, c.phc, ProcessHub, :process_list, [@hub, :global]) == beam
    end

    test "stopped children disappear from every registry", c do
      assert start(c.a, :phc_echo, 6, prefix: "unreg").status == :ok
      list = agreed([c.a, c.b])
      ids = for {id, _} <- list, String.starts_with?(id, "unreg_"), do: id
      rpc(c.b, PhcHarness, :stop_children, [ids, [timeout: 3_000]], 60_000)
      after_stop = agreed([c.a, c.b])
      assert Enum.all?(ids, &(not List.keymember?(after_stop, &1, 0)))
    end
  end

  describe "children" do
    @describetag :children

    test "C children answer GenServer.call from every BEAM node", c do
      assert start(c.a, :phc_counter, 9, prefix: "ccall").status == :ok
      assert start(c.a, :phc_kv, 9, prefix: "kcall").status == :ok
      assert start(c.a, :phc_echo, 9, prefix: "ecall").status == :ok
      list = agreed([c.a, c.b])
      mine = on_phc(list)

      for id <- mine, String.starts_with?(id, "ccall_") do
        assert rpc(c.a, PhcHarness, :call, [id, {:add, 2}, @hub]) == 2
        assert rpc(c.b, PhcHarness, :call, [id, {:add, 3}, @hub]) == 5
        assert rpc(c.b, PhcHarness, :call, [id, :get, @hub]) == 5
      end

      for id <- mine, String.starts_with?(id, "kcall_") do
        assert rpc(c.a, PhcHarness, :call, [id, {:put, "k", [1, 2]}, @hub]) == :ok
        assert rpc(c.b, PhcHarness, :call, [id, {:get, "k"}, @hub]) == [1, 2]
        assert rpc(c.b, PhcHarness, :call, [id, {:get, "missing"}, @hub]) == nil
        assert rpc(c.a, PhcHarness, :call, [id, :keys, @hub]) == ["k"]
      end

      for id <- mine, String.starts_with?(id, "ecall_") do
        assert rpc(c.b, PhcHarness, :call, [id, {:ping, id}, @hub]) == {:ping, id}
      end

      assert Enum.any?(mine, &String.starts_with?(&1, "ccall_"))
    end

    test "awaited start and stop results include phc's pids", c do
      res = start(c.b, :phc_counter, 12, prefix: "await")
      assert %{status: :ok, errors: []} = res
      on = for {id, [{node, pid}]} <- res.started, node == c.phc, do: {id, pid}
      assert on != []
      for {_id, pid} <- on, do: assert(node(pid) == c.phc)

      list = agreed([c.a, c.b])
      for {id, pid} <- on, do: assert(List.keyfind(list, id, 0) == {id, [{c.phc, pid}]})

      {id, _} = hd(on)
      stop = rpc(c.a, ProcessHub, :stop_child, [@hub, id, [awaitable: true, timeout: 3_000]])
      stop = rpc(c.a, ProcessHub.Future, :await, [elem(stop, 1)], 60_000)
      # stops collect from every hub node; nodes without the child time out (ProcessHub quirk)
      assert {id, [c.phc]} in stop.stopped, inspect(stop)
    end

    test "a duplicate id gives already_started", c do
      assert start(c.a, :phc_echo, 6, prefix: "dupl").status == :ok
      agreed([c.a, c.b])

      assert {:error, {:already_started, ids}} = start(c.b, :phc_echo, 6, prefix: "dupl")
      assert Enum.sort(ids) == Enum.map(1..6, &"dupl_#{&1}")
    end

    test "an unknown start module on phc gives an error in the result, not a hang", c do
      id = id_owned_by(c.a, c.phc, "nomod")
      spec = %{id: id, start: {:phc_no_such_module, :start_link, []}}

      {:ok, fut} =
        rpc(c.a, ProcessHub, :start_children, [@hub, [spec], [awaitable: true, timeout: 5_000]])

      {us, res} = :timer.tc(fn -> rpc(c.a, ProcessHub.Future, :await, [fut], 60_000) end)
      assert us < 5_000_000, "took #{div(us, 1000)} ms"
      assert res.status == :error
      assert [{^id, node, _reason}] = res.errors
      assert node == c.phc
      refute List.keymember?(agreed([c.a, c.b]), id, 0)
    end

    test "a crashed C child restarts and the new pid reaches every registry", c do
      id = id_owned_by(c.a, c.phc, "crashc")

      assert rpc(c.a, ProcessHub, :start_child, [
               @hub,
               PhcHarness.child_spec(:phc_counter, id),
               [awaitable: true]
             ])
             |> then(&rpc(c.a, ProcessHub.Future, :await, [elem(&1, 1)]))
             |> Map.get(:status) == :ok

      old = List.keyfind(agreed([c.a, c.b]), id, 0) |> elem(1) |> Keyword.fetch!(c.phc)
      rpc(c.a, Process, :exit, [old, :kill])

      eventually(fn ->
        case List.keyfind(agreed([c.a, c.b]), id, 0) do
          {^id, [{phc, new}]} when phc == c.phc and new != old -> true
          _ -> false
        end
      end)
    end

    test "a transient C child that stops normally is unregistered everywhere", c do
      id = id_owned_by(c.a, c.phc, "trans")
      spec = PhcHarness.child_spec(:phc_echo, id) |> Map.put(:restart, :transient)
      {:ok, fut} = rpc(c.a, ProcessHub, :start_children, [@hub, [spec], [awaitable: true]])
      assert rpc(c.a, ProcessHub.Future, :await, [fut]).status == :ok
      pid = List.keyfind(agreed([c.a, c.b]), id, 0) |> elem(1) |> Keyword.fetch!(c.phc)

      :ok = rpc(c.b, GenServer, :stop, [pid, :normal])
      eventually(fn -> not List.keymember?(agreed([c.a, c.b]), id, 0) end)
    end
  end

  describe "hooks" do
    @describetag :hooks

    test "registry hooks fire on phc with the same data as on BEAM members; cancel stops them",
         c do
      key = :registry_pid_insert_hook
      cols = for n <- [c.a, c.b, c.phc], into: %{}, do: {n, :"hooks_#{:erlang.phash2(n)}"}

      pids =
        for {n, name} <- cols,
            into: %{},
            do: {n, rpc(c.a, PhcHarness.HookCollector, :start, [name])}

      for {n, pid} <- pids do
        handler = struct!(HookManager, id: :phc_test, m: :erlang, f: :send, a: [pid, :_], p: 0)
        args = [@hub, key, [handler]]

        res =
          if n == c.phc,
            do: erpc(c.a, n, ProcessHub, :register_hook_handlers, args),
            else: rpc(n, ProcessHub, :register_hook_handlers, args)

        assert res == :ok
      end

      assert start(c.a, :phc_echo, 6, prefix: "hook").status == :ok
      agreed([c.a, c.b])

      got = fn n -> rpc(c.a, PhcHarness.HookCollector, :messages, [cols[n]]) end
      eventually(fn -> length(got.(c.a)) >= 6 and length(got.(c.phc)) == length(got.(c.a)) end)
      assert Enum.sort(got.(c.phc)) == Enum.sort(got.(c.a))
      assert Enum.sort(got.(c.b)) == Enum.sort(got.(c.a))

      assert erpc(c.a, c.phc, ProcessHub, :cancel_hook_handlers, [@hub, key, [:phc_test]]) == :ok
      before = length(got.(c.phc))
      assert start(c.a, :phc_echo, 6, prefix: "hook2").status == :ok
      agreed([c.a, c.b])
      Process.sleep(500)
      assert length(got.(c.phc)) == before
    end
  end

  describe "ProcessHub-style API over erpc" do
    @describetag :api

    test "query functions on phc return what they return on a BEAM member", c do
      assert start(c.a, :phc_counter, 9, prefix: "api", metadata: %{tag: "api_tag"}).status == :ok
      list = agreed([c.a, c.b])
      [on | _] = on_phc(list)
      [off | _] = for {id, nps} <- list, not Keyword.has_key?(nps, c.phc), do: id

      same = fn f, args, norm ->
        beam = rpc(c.a, ProcessHub, f, args) |> norm.()
        phc = erpc(c.a, c.phc, ProcessHub, f, args) |> norm.()

        assert phc == beam,
               "ProcessHub.#{f}#{inspect(args)}: phc #{inspect(phc)} vs BEAM #{inspect(beam)}"
      end

      sorted = &Enum.sort/1
      id = & &1
      same.(:process_list, [@hub, :global], sorted)
      same.(:registry_dump, [@hub], id)
      same.(:tag_query, [@hub, "api_tag"], sorted)
      same.(:nodes, [@hub, [:include_local]], sorted)
      same.(:is_alive?, [@hub], id)
      same.(:is_locked?, [@hub], id)
      same.(:is_partitioned?, [@hub], id)

      for cid <- [on, off, "api_missing"] do
        same.(:child_lookup, [@hub, cid], id)
        same.(:child_lookup, [@hub, cid, [with_metadata: true]], id)
        same.(:get_pid, [@hub, cid], id)
        same.(:get_pids, [@hub, cid], id)
      end

      local = erpc(c.a, c.phc, ProcessHub, :process_list, [@hub, :local]) |> Enum.sort()
      expected = for {cid, nps} <- list, pid = nps[c.phc], do: {cid, pid}
      assert local == Enum.sort(expected)
    end
  end

  # A child id (prefix_1, prefix_2, ...) that ProcessHub's ring on `via` assigns to `owner`.
  defp id_owned_by(via, owner, prefix) do
    Enum.find_value(1..500, fn i ->
      id = "#{prefix}_#{i}"
      if rpc(via, PhcHarness, :owner, [@hub, id]) == owner, do: id
    end)
  end
end
