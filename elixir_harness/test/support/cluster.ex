defmodule PhcHarness.Cluster do
  @moduledoc """
  Starts and drives the nodes of an interop test, all on 127.0.0.1 with cookie `mycookie`.

  * BEAM members are OTP `:peer` nodes (`-name <n>@127.0.0.1`) controlled over their standard
    I/O, so the test runner itself never joins the cluster. They get the runner's non-OTP code
    path (Elixir, this project, and ProcessHub whether fetched by hex or given through
    `PHC_PROCESS_HUB_LIBS`).
  * phc is `$PHC_NODE -name phc@127.0.0.1 -setcookie mycookie -connect ... -hub my_hub`, run as
    a port; its output goes to `test_logs/phc-<n>.log`.

  Everything is addressed by node name; `rpc/4` runs a call on a BEAM member, `phc_rpc/4` runs
  `:erpc.call(phc, m, f, a)` from a BEAM member (phc is only ever reached over distribution).
  """

  @cookie "mycookie"
  @host "127.0.0.1"
  @table :phc_harness_cluster

  def cookie, do: @cookie
  def node_name(short), do: :"#{short}@#{@host}"
  def phc_node, do: node_name(:phc)

  # -- bookkeeping ----------------------------------------------------------------------------

  defp table do
    if :ets.whereis(@table) == :undefined do
      # Owned by a process that lives for the whole test run.
      parent = self()

      spawn(fn ->
        :ets.new(@table, [:named_table, :public])
        send(parent, {@table, :ready})
        Process.sleep(:infinity)
      end)

      receive do
        {@table, :ready} -> :ok
      end
    end

    @table
  end

  defp put(key, val), do: :ets.insert(table(), {key, val})

  defp get(key) do
    case :ets.lookup(table(), key) do
      [{^key, val}] -> val
      [] -> nil
    end
  end

  defp del(key), do: :ets.delete(table(), key)

  defp phc_key(:phc), do: :phc
  defp phc_key(short), do: {:phc, short}

  # -- epmd -------------------------------------------------------------------------------------

  @doc "Starts a loopback epmd when none answers (it is left running afterwards)."
  def ensure_epmd do
    case System.cmd("epmd", ["-names"], stderr_to_stdout: true) do
      {_, 0} ->
        :ok

      _ ->
        {_, 0} = System.cmd("epmd", ["-address", "127.0.0.1", "-daemon"])
        Process.sleep(300)
        :ok
    end
  end

  # -- BEAM members -----------------------------------------------------------------------------

  @doc "Starts BEAM node `<short>@127.0.0.1` with Elixir, Logger and this project loaded."
  def start_beam(short, opts \\ []) do
    ensure_epmd()
    root = List.to_string(:code.root_dir())

    pa =
      :code.get_path()
      |> Enum.map(&List.to_string/1)
      |> Enum.reject(&String.starts_with?(&1, root))
      |> Enum.flat_map(&["-pa", &1])

    args =
      ["-setcookie", @cookie, "-kernel", "net_ticktime", to_string(opts[:net_ticktime] || 60)] ++
        pa

    {:ok, peer, node} =
      :peer.start(%{
        name: short,
        host: String.to_charlist(@host),
        longnames: true,
        connection: :standard_io,
        # stop = init:stop/0 on the node, so ProcessHub shuts down the way it does in production
        shutdown: 15_000,
        args: Enum.map(args, &String.to_charlist/1)
      })

    put({:beam, node}, peer)
    {:ok, _} = rpc(node, :application, :ensure_all_started, [:logger])
    rpc(node, Logger, :configure, [[level: opts[:log_level] || :warning]])
    {:ok, _} = rpc(node, :application, :ensure_all_started, [:process_hub])
    node
  end

  @doc "Stops a BEAM member the way `init:stop/0` does (hub coordinator leaves cleanly)."
  def stop_beam(node) do
    case get({:beam, node}) do
      nil ->
        :ok

      peer ->
        del({:beam, node})
        stop_peer(peer)
    end
  end

  @doc "Kills a BEAM member's OS process with SIGKILL."
  def kill_beam(node) do
    os_pid = rpc(node, :os, :getpid, [])
    peer = get({:beam, node})
    del({:beam, node})
    System.cmd("kill", ["-9", List.to_string(os_pid)])
    if peer, do: stop_peer(peer)
    :ok
  end

  defp stop_peer(peer) do
    :peer.stop(peer)
  catch
    :exit, _ -> :ok
  end

  @doc "Running BEAM members, sorted."
  def beam_nodes, do: for({{:beam, n}, _} <- :ets.tab2list(table()), do: n) |> Enum.sort()

  @doc "`apply(m, f, a)` on BEAM member `node`."
  def rpc(node, m, f, a, timeout \\ 30_000) do
    case get({:beam, node}) do
      nil -> raise ArgumentError, "#{node} is not a running BEAM member"
      peer -> :peer.call(peer, m, f, a, timeout)
    end
  end

  @doc "`:erpc.call(target, m, f, a)` issued from BEAM member `via`."
  def erpc(via, target, m, f, a, timeout \\ 10_000) do
    rpc(via, :erpc, :call, [target, m, f, a, timeout], timeout + 5_000)
  end

  @doc "Connects BEAM members pairwise."
  def connect_all(nodes) do
    for a <- nodes, b <- nodes, a < b, do: true = rpc(a, Node, :connect, [b])
    :ok
  end

  @doc "Starts the hub on a BEAM member (see `PhcHarness.start_hub/1`)."
  def start_hub(node, opts \\ []) do
    {:ok, _} =
      rpc(node, PhcHarness, :start_hub, [Keyword.put_new(opts, :hubs_discover_interval, 1_000)])

    :ok
  end

  # -- phc --------------------------------------------------------------------------------------

  @doc "Path of phc-node from `$PHC_NODE`, or nil."
  def phc_path do
    case System.get_env("PHC_NODE") do
      nil -> nil
      "" -> nil
      p -> Path.expand(p)
    end
  end

  @doc """
  Starts phc-node as `phc@127.0.0.1`. Options: `:connect` (nodes, default the running BEAM
  members), `:hub` (default `:my_hub`, `nil` for none), `:extra_args`, `:short` (another
  phc-node as `<short>@127.0.0.1`, addressed by that name in `stop_phc/2` and `phc_log/1`).
  """
  def start_phc(opts \\ []) do
    ensure_epmd()
    path = phc_path() || raise "PHC_NODE is not set"

    unless File.regular?(path),
      do: raise("PHC_NODE=#{path} does not exist (build phc-node first)")

    connect = Keyword.get(opts, :connect, beam_nodes())
    hub = Keyword.get(opts, :hub, :my_hub)
    short = Keyword.get(opts, :short, :phc)

    args =
      ["-name", to_string(node_name(short)), "-setcookie", @cookie] ++
        Enum.flat_map(connect, &["-connect", to_string(&1)]) ++
        if(hub, do: ["-hub", to_string(hub)], else: []) ++
        Keyword.get(opts, :extra_args, [])

    n = (get(:phc_runs) || 0) + 1
    put(:phc_runs, n)
    File.mkdir_p!("test_logs")
    log = Path.expand("test_logs/phc-#{n}.log")
    parent = self()

    owner =
      spawn(fn ->
        port =
          Port.open({:spawn_executable, path}, [
            :binary,
            :exit_status,
            :stderr_to_stdout,
            args: args
          ])

        {:os_pid, os_pid} = Port.info(port, :os_pid)
        send(parent, {:phc_started, os_pid})
        {:ok, f} = File.open(log, [:write])
        IO.binwrite(f, "# #{path} #{Enum.join(args, " ")}\n")
        phc_loop(port, f)
      end)

    os_pid =
      receive do
        {:phc_started, os_pid} -> os_pid
      after
        5_000 -> raise "phc-node did not start"
      end

    put(phc_key(short), %{owner: owner, os_pid: os_pid, log: log})
    %{os_pid: os_pid, log: log, node: node_name(short)}
  end

  defp phc_loop(port, f) do
    receive do
      {^port, {:data, data}} ->
        IO.binwrite(f, data)
        phc_loop(port, f)

      {^port, {:exit_status, st}} ->
        IO.binwrite(f, "# exit status #{st}\n")
        File.close(f)
    end
  end

  @doc "Stops phc: `:term` (SIGTERM, graceful leave) or `:kill` (SIGKILL). Waits for exit."
  def stop_phc(how \\ :term, short \\ :phc) do
    case get(phc_key(short)) do
      nil ->
        :ok

      %{owner: owner, os_pid: os_pid} ->
        del(phc_key(short))
        ref = Process.monitor(owner)
        sig = if how == :kill, do: "-9", else: "-TERM"
        System.cmd("kill", [sig, to_string(os_pid)], stderr_to_stdout: true)

        receive do
          {:DOWN, ^ref, _, _, _} -> :ok
        after
          10_000 ->
            System.cmd("kill", ["-9", to_string(os_pid)], stderr_to_stdout: true)
            {:error, :phc_did_not_exit}
        end
    end
  end

  def phc_log(short \\ :phc) do
    case get(phc_key(short)) do
      %{log: log} -> File.read!(log)
      nil -> ""
    end
  end

  @doc "Stops everything this module started."
  def stop_all do
    for {{:phc, short}, _} <- :ets.tab2list(table()), do: stop_phc(:kill, short)
    stop_phc(:kill)
    Enum.each(beam_nodes(), &stop_beam/1)
  end

  # -- waiting ----------------------------------------------------------------------------------

  @doc """
  Polls `fun` every 100 ms until it returns a truthy value (returned) or `timeout` ms pass,
  then fails with `message` (a string, or a 0-arity function computed at failure) and the
  last value.
  """
  def eventually(fun, timeout \\ 10_000, message \\ "condition not met") do
    deadline = System.monotonic_time(:millisecond) + timeout
    poll(fun, deadline, message)
  end

  defp poll(fun, deadline, message) do
    value =
      try do
        fun.()
      rescue
        e -> {:raised, e}
      catch
        kind, reason -> {kind, reason}
      end

    cond do
      value not in [nil, false] and not match?({:raised, _}, value) and
          not match?({:exit, _}, value) ->
        value

      System.monotonic_time(:millisecond) > deadline ->
        message = if is_function(message, 0), do: message.(), else: message

        raise ExUnit.AssertionError,
          message: "#{message}; last value: #{inspect(value, limit: 50)}"

      true ->
        Process.sleep(100)
        poll(fun, deadline, message)
    end
  end
end
