defmodule PhcHarness do
  @moduledoc """
  iex helpers for running a ProcessHub hub next to `phc-node`.

  The hub uses the defaults phc supports as a hub member: ConsistentHashing + Singularity +
  ColdSwap + PubSub + Divergence. Only `hub_id`, `hubs_discover_interval` and the PubSub
  `sync_interval` are configurable here.

      iex --name a@127.0.0.1 --cookie mycookie -S mix
      iex> PhcHarness.start_hub()                      # :my_hub
      iex> PhcHarness.connect([:"b@127.0.0.1", :"phc@127.0.0.1"])
      iex> PhcHarness.start_children(:phc_counter, 5)  # counter_1 .. counter_5
      iex> PhcHarness.print_process_list()
      iex> PhcHarness.call("counter_1", {:add, 2})

  This module references ProcessHub only at run time (no struct literals, no macros), so it
  compiles whether or not ProcessHub is present.
  """

  require Logger

  @default_hub :my_hub
  @twin_prefix %{phc_echo: "echo", phc_counter: "counter", phc_kv: "kv"}

  @doc """
  The `%ProcessHub{}` settings for `hub_id`.

  Options: `:hub_id` (default `:my_hub`), `:hubs_discover_interval` (ms, ProcessHub's default
  10_000), `:sync_interval` (PubSub, ms, default 15_000), `:child_specs` (static children).
  """
  def hub_settings(opts \\ []) do
    hub_id = Keyword.get(opts, :hub_id, @default_hub)

    struct!(ProcessHub,
      hub_id: hub_id,
      child_specs: Keyword.get(opts, :child_specs, []),
      hubs_discover_interval: Keyword.get(opts, :hubs_discover_interval, 10_000),
      distribution_strategy:
        Keyword.get_lazy(opts, :distribution_strategy, fn ->
          struct!(ProcessHub.Strategy.Distribution.ConsistentHashing)
        end),
      redundancy_strategy:
        Keyword.get_lazy(opts, :redundancy_strategy, fn ->
          struct!(ProcessHub.Strategy.Redundancy.Singularity)
        end),
      migration_strategy:
        Keyword.get_lazy(opts, :migration_strategy, fn ->
          struct!(ProcessHub.Strategy.Migration.ColdSwap)
        end),
      synchronization_strategy:
        Keyword.get_lazy(opts, :synchronization_strategy, fn ->
          struct!(ProcessHub.Strategy.Synchronization.PubSub,
            sync_interval: Keyword.get(opts, :sync_interval, 15_000)
          )
        end),
      partition_tolerance_strategy:
        Keyword.get_lazy(opts, :partition_tolerance_strategy, fn ->
          struct!(ProcessHub.Strategy.PartitionTolerance.Divergence)
        end)
    )
  end

  @doc """
  Starts the hub under its own supervisor, not linked to the caller (so it survives the iex
  shell process or the rpc that started it). Returns `{:ok, supervisor_pid}`.
  """
  def start_hub(opts \\ []) do
    settings = hub_settings(opts)
    parent = self()
    ref = make_ref()

    holder =
      spawn(fn ->
        result =
          Supervisor.start_link([ProcessHub.child_spec(settings)],
            strategy: :one_for_one,
            name: sup_name(settings.hub_id)
          )

        send(parent, {ref, result})
        if match?({:ok, _}, result), do: Process.sleep(:infinity)
      end)

    receive do
      {^ref, result} -> result
    after
      15_000 ->
        Process.exit(holder, :kill)
        {:error, :timeout}
    end
  end

  @doc "Stops a hub started with `start_hub/1` (its coordinator leaves the cluster cleanly)."
  def stop_hub(hub_id \\ @default_hub) do
    case Process.whereis(sup_name(hub_id)) do
      nil -> {:error, :not_running}
      sup -> Supervisor.stop(sup, :normal)
    end
  end

  defp sup_name(hub_id), do: :"phc_harness.#{hub_id}.sup"

  @doc "Connects this node to each of `nodes`; returns `[{node, true | false}]`."
  def connect(nodes), do: Enum.map(List.wrap(nodes), &{&1, Node.connect(&1)})

  @doc "A ProcessHub child spec for a twin type: `%{id: id, start: {type, :start_link, [arg]}}`."
  def child_spec(type, id, arg \\ nil) do
    %{id: id, start: {type, :start_link, [arg || default_arg(type)]}}
  end

  defp default_arg(:phc_counter), do: 0
  defp default_arg(:phc_kv), do: %{}
  defp default_arg(_), do: nil

  @doc """
  Starts `n` children of twin/C type `type` (ids `"<prefix>_1"`..) and waits for the
  `ProcessHub.StartResult`. Options: `:hub_id`, `:prefix`, `:first` (1), `:arg`, and any
  ProcessHub start option (`:metadata`, `:timeout`, ...).
  """
  def start_children(type, n, opts \\ []) do
    {hub_id, opts} = Keyword.pop(opts, :hub_id, @default_hub)
    {prefix, opts} = Keyword.pop(opts, :prefix, Map.get(@twin_prefix, type, to_string(type)))
    {first, opts} = Keyword.pop(opts, :first, 1)
    {arg, opts} = Keyword.pop(opts, :arg)
    specs = for i <- first..(first + n - 1), do: child_spec(type, "#{prefix}_#{i}", arg)

    case ProcessHub.start_children(hub_id, specs, Keyword.put(opts, :awaitable, true)) do
      {:ok, future} -> ProcessHub.Future.await(future)
      other -> other
    end
  end

  @doc "Stops the given child ids and waits for the `ProcessHub.StopResult`."
  def stop_children(ids, opts \\ []) do
    {hub_id, opts} = Keyword.pop(opts, :hub_id, @default_hub)

    case ProcessHub.stop_children(hub_id, List.wrap(ids), Keyword.put(opts, :awaitable, true)) do
      {:ok, future} -> ProcessHub.Future.await(future)
      other -> other
    end
  end

  @doc "`ProcessHub.process_list(hub_id, :global)`, sorted by child id."
  def process_list(hub_id \\ @default_hub, scope \\ :global) do
    hub_id |> ProcessHub.process_list(scope) |> Enum.sort()
  end

  @doc "Prints the process list as `id  node  pid  [ring owner]` lines; returns `:ok`."
  def print_process_list(hub_id \\ @default_hub) do
    ring = ring(hub_id)

    for {id, node_pids} <- process_list(hub_id), {node, pid} <- node_pids do
      owner = owner(ring, id)
      mark = if owner == node, do: "", else: "  <- ring says #{owner}"
      IO.puts("#{inspect(id)}\t#{node}\t#{inspect(pid)}#{mark}")
    end

    :ok
  end

  @doc "The node that ProcessHub's ring (built from the hub's current nodes) assigns `id` to."
  def owner(hub_id_or_ring, id)
  def owner(hub_id, id) when is_atom(hub_id), do: owner(ring(hub_id), id)
  def owner(ring, id), do: ProcessHub.Service.Ring.key_to_node(ring, id, 1)

  @doc "A hash ring over `ProcessHub.nodes(hub_id, [:include_local])`, built by ProcessHub."
  def ring(hub_id \\ @default_hub) do
    hub_id |> ProcessHub.nodes([:include_local]) |> ProcessHub.Service.Ring.create_ring()
  end

  @doc "Children whose registered nodes differ from `[ring owner]`: `[{id, nodes, owner}]`."
  def misplaced(hub_id \\ @default_hub) do
    ring = ring(hub_id)

    for {id, node_pids} <- process_list(hub_id),
        nodes = Keyword.keys(node_pids),
        owner = owner(ring, id),
        nodes != [owner],
        do: {id, nodes, owner}
  end

  @doc """
  Children whose registered nodes differ from the ring's `rf` nodes for them (Replication;
  `:cluster_size` for every node): `[{id, nodes, ring_nodes}]`, nodes sorted.
  """
  def misplaced_rf(hub_id, rf) do
    ring = ring(hub_id)
    rf = if rf == :cluster_size, do: length(ProcessHub.nodes(hub_id, [:include_local])), else: rf

    for {id, node_pids} <- process_list(hub_id),
        nodes = node_pids |> Keyword.keys() |> Enum.sort(),
        want = ProcessHub.Service.Ring.key_to_nodes(ring, id, rf) |> Enum.sort(),
        nodes != want,
        do: {id, nodes, want}
  end

  @doc "`GenServer.call/3` on the pid the hub registers for `id`."
  def call(id, request, hub_id \\ @default_hub, timeout \\ 5_000) do
    case ProcessHub.get_pid(hub_id, id) do
      pid when is_pid(pid) -> GenServer.call(pid, request, timeout)
      other -> {:error, {:no_pid, other}}
    end
  end

  @doc "Lists `ProcessHub.nodes(hub_id, [:include_local])`, sorted."
  def hub_nodes(hub_id \\ @default_hub),
    do: hub_id |> ProcessHub.nodes([:include_local]) |> Enum.sort()

  @doc """
  True when `pid` (on any connected node, phc included) is alive: monitors it and waits up to
  `timeout` ms for an immediate `:noproc` DOWN.
  """
  def alive?(pid, timeout \\ 300) do
    ref = Process.monitor(pid)

    receive do
      {:DOWN, ^ref, :process, _, _} -> false
    after
      timeout ->
        Process.demonitor(ref, [:flush])
        true
    end
  end
end
