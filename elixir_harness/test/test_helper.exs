# The mix alias in mix.exs already skips the whole run when ProcessHub is neither fetched nor
# supplied through PHC_PROCESS_HUB_LIBS; this is the second line of defence (e.g. a broken
# deps dir): without ProcessHub every test is excluded, with one line saying why.
alias PhcHarness.Cluster

process_hub? =
  Code.ensure_loaded?(ProcessHub) and
    Application.load(:process_hub) in [:ok, {:error, {:already_loaded, :process_hub}}]

cond do
  not process_hub? ->
    IO.puts("phc_harness: SKIPPED, ProcessHub is not on the code path (see README.md)")
    ExUnit.start(exclude: [:test])

  true ->
    vsn = Application.spec(:process_hub, :vsn)
    IO.puts("phc_harness: ProcessHub #{vsn} from #{:code.lib_dir(:process_hub)}")

    exclude =
      case Cluster.phc_path() do
        nil ->
          IO.puts("phc_harness: tests tagged :phc excluded, PHC_NODE is not set")
          [:phc]

        path ->
          IO.puts("phc_harness: phc-node = #{path}")
          []
      end

    Cluster.ensure_epmd()
    ExUnit.start(exclude: exclude, timeout: 180_000, capture_log: true)
end
