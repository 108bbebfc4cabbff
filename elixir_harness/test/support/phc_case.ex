defmodule PhcHarness.PhcCase do
  @moduledoc """
  Shared setup for the phc interop suites: two BEAM members `a`, `b` running `:my_hub`, plus
  `phc@127.0.0.1` started from `$PHC_NODE` with `-connect a -connect b -hub my_hub`.
  """
  import ExUnit.Assertions
  import PhcHarness.Cluster

  @hub :my_hub

  def hub, do: @hub

  @doc "Starts a, b (hub formed) and, unless `phc: false`, phc; returns the context map."
  def start_cluster(opts \\ []) do
    a = start_beam(:a)
    b = start_beam(:b)
    :ok = connect_all([a, b])
    :ok = start_hub(a)
    :ok = start_hub(b)

    eventually(
      fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end,
      15_000,
      "BEAM hub did not form"
    )

    if Keyword.get(opts, :phc, true), do: join_phc([a, b])
    %{a: a, b: b, phc: phc_node()}
  end

  @doc "Starts phc and waits until every BEAM member lists it in the hub."
  def join_phc(beams, opts \\ []) do
    start_phc(Keyword.put_new(opts, :connect, beams))
    phc = phc_node()

    eventually(
      fn -> Enum.all?(beams, &(phc in hub_nodes(&1))) end,
      20_000,
      fn -> "phc did not join the hub; phc log:\n" <> phc_log() end
    )

    phc
  end

  def hub_nodes(node), do: rpc(node, PhcHarness, :hub_nodes, [@hub])
  def plist(node), do: rpc(node, PhcHarness, :process_list, [@hub])
  def misplaced(node), do: rpc(node, PhcHarness, :misplaced, [@hub])

  @doc "process_list on phc, asked over erpc from BEAM member `via`, sorted."
  def phc_plist(via),
    do: erpc(via, phc_node(), ProcessHub, :process_list, [@hub, :global]) |> Enum.sort()

  @doc """
  Waits until `process_list` is identical on every BEAM member in `beams` and on phc (when
  `phc?`), and every child sits where the ring says. Returns the agreed list.
  """
  def agreed(beams, phc? \\ true) do
    eventually(
      fn ->
        lists = Enum.map(beams, &plist/1) ++ if(phc?, do: [phc_plist(hd(beams))], else: [])
        l = hd(lists)
        if Enum.all?(lists, &(&1 == l)) and misplaced(hd(beams)) == [], do: l
      end,
      30_000,
      fn ->
        views = for n <- beams, do: {n, plist(n)}
        phc_view = if phc?, do: [{:phc, catch_all(fn -> phc_plist(hd(beams)) end)}], else: []

        "process_list differs or misplaced children: " <>
          inspect(views ++ phc_view ++ [misplaced: misplaced(hd(beams))], limit: 200)
      end
    )
  end

  defp catch_all(fun) do
    fun.()
  rescue
    e -> {:raised, e}
  catch
    k, r -> {k, r}
  end

  @doc "Starts children from `node` with awaitable: true; returns the StartResult."
  def start(node, type, n, opts) do
    rpc(node, PhcHarness, :start_children, [type, n, opts], 90_000)
  end

  @doc "Ids whose registered node is phc in `list`."
  def on_phc(list), do: for({id, nps} <- list, Keyword.has_key?(nps, phc_node()), do: id)

  @doc "Rows of `list` whose pid is not alive (checked from `via`)."
  def dead_rows(list, via) do
    for {id, nps} <- list,
        {node, pid} <- nps,
        not rpc(via, PhcHarness, :alive?, [pid]),
        do: {id, node, pid}
  end

  def assert_all_alive(list, via) do
    for {id, nps} <- list, {node, pid} <- nps do
      alive = rpc(via, PhcHarness, :alive?, [pid])

      assert alive, "#{inspect(id)} registered on #{node} as #{inspect(pid)} is not alive"
    end
  end
end
