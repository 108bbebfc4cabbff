# ProcessHub 0.4.1-beta loses registry updates when two of its tasks write the
# same rows at once; no phc involved, one BEAM node.
#
#   cd elixir_harness && PHC_PROCESS_HUB_LIBS=DIR mix run repro/registry_race.exs
#
# When a node leaves, each remaining member's NodeDown task removes the node
# from its rows (ProcessRegistry.bulk_delete, "clear_registry") while a
# SyncHandle task registers the children another member has just restarted
# (ProcessRegistry.bulk_insert). Both read a row, change it and write it back
# without a lock, so when they meet on a row one write is lost: the row keeps
# the node that left (the bench's "lists_differ") or is deleted (a child
# missing from one member's process_list). Here the two calls run on the same
# 20 000 rows in opposite orders; a few rows per round come out wrong on two
# schedulers. In bench/hub3_run (a 3-node hub of 10 000 children) it shows up
# as a leave that never converges. Set ROUNDS (5) to run more rounds.
alias ProcessHub.Service.ProcessRegistry

hub = :registry_race_hub
{:ok, _} = ProcessHub.Initializer.start_link(%ProcessHub{hub_id: hub})
n = 20_000
ids = for i <- 1..n, do: "c#{i}"
spec = fn id -> %{id: id, start: {Agent, :start_link, [fn -> 0 end]}} end
gone = :"left@127.0.0.1"
old = spawn(fn -> Process.sleep(:infinity) end)
new = spawn(fn -> Process.sleep(:infinity) end)

bad =
  for r <- 1..String.to_integer(System.get_env("ROUNDS", "5")) do
    ProcessRegistry.bulk_insert(hub, Map.new(ids, &{&1, {spec.(&1), [{gone, old}], %{}}}))
    me = self()

    spawn(fn ->
      ProcessRegistry.bulk_delete(hub, Map.new(ids, &{&1, [gone]}))
      send(me, :deleted)
    end)

    spawn(fn ->
      for id <- Enum.reverse(ids),
          do: ProcessRegistry.bulk_insert(hub, %{id => {spec.(id), [{node(), new}], %{}}})

      send(me, :inserted)
    end)

    receive do: (:deleted -> :ok)
    receive do: (:inserted -> :ok)
    rows = Map.new(ProcessHub.process_list(hub, :global))
    stale = Enum.count(rows, fn {_, nodes} -> Keyword.has_key?(nodes, gone) end)
    lost = n - map_size(rows)
    IO.puts("round #{r}: #{stale} rows still name the node that left, #{lost} rows deleted, of #{n}")
    ProcessRegistry.bulk_delete(hub, Map.new(ids, &{&1, [gone, node()]}))
    stale + lost
  end

IO.puts("lost updates: #{Enum.sum(bad)} in #{length(bad)} rounds")
