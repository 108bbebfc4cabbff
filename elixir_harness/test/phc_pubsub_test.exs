defmodule PhcHarness.PhcPubSubTest do
  @moduledoc """
  PubSub's periodic sync (anti-entropy) with phc as a member, against a BEAM member in its
  place as the control: a stale registry row on a BEAM member that names a child the member
  does not run is dropped by the member's next periodic sync, and a row the BEAM member lost
  is added back. Select with `mix test --only pubsub_sync`.
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase
  alias ProcessHub.Service.ProcessRegistry

  @moduletag :phc
  @moduletag :pubsub_sync
  @sync 1_000

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  defp rows(a), do: rpc(a, ProcessRegistry, :dump, [hub()]) |> Map.new()

  defp run(kind) do
    x = phc_node()
    a = start_beam(:a)
    :ok = start_hub(a, sync_interval: @sync)

    if kind == :beam do
      ^x = start_beam(:phc)
      :ok = start_hub(x, sync_interval: @sync)
    else
      start_phc(connect: [], extra_args: ["-sync_interval", "#{@sync}"])
    end

    eventually(fn -> rpc(a, Node, :connect, [x]) end, 10_000)
    eventually(fn -> hub_nodes(a) == Enum.sort([a, x]) end, 20_000)
    assert start(a, :phc_counter, 10, prefix: "ps").status == :ok
    list = agreed([a])
    [{lost, _} | _] = for {id, nps} <- list, nps[x], do: {id, nps[x]}

    # a process on the member that is no hub child, and a row on a naming it
    stray = rpc(a, :rpc, :call, [x, :erlang, :whereis, [:rex]])
    assert is_pid(stray)
    spec = %{id: "ps_stale", start: {:phc_counter, :start_link, [0]}}
    :ok = rpc(a, ProcessRegistry, :insert, [hub(), spec, [{x, stray}]])
    :ok = rpc(a, ProcessRegistry, :delete, [hub(), lost])
    assert Map.has_key?(rows(a), "ps_stale")
    refute Map.has_key?(rows(a), lost)

    t0 = System.monotonic_time(:millisecond)

    eventually(
      fn -> not Map.has_key?(rows(a), "ps_stale") and Map.has_key?(rows(a), lost) end,
      5 * @sync,
      fn -> "#{kind}: rows on a #{inspect(rows(a), limit: 50)}; phc log:\n" <> phc_log() end
    )

    ms = System.monotonic_time(:millisecond) - t0
    IO.puts("#{kind} member: stale row dropped and lost row back on a after #{ms} ms")
    assert agreed([a]) == list
    stop_all()
  end

  test "the member's periodic sync drops a stale row and restores a lost one, as a BEAM member's does" do
    run(:beam)
    run(:phc)
  end
end
