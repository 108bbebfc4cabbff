defmodule PhcHarness.MixProject do
  use Mix.Project

  # How ProcessHub reaches this project (see README.md, "Where ProcessHub comes from"):
  #
  # * default: the hex package `{:process_hub, "~> 0.4.1-beta"}`, fetched with `mix deps.get`;
  # * PHC_PROCESS_HUB_LIBS=DIR: an offline prebuilt copy laid out like ERL_LIBS
  #   (DIR/process_hub/ebin, DIR/blockade/ebin, DIR/hash_ring/ebin). The hex dependency is then
  #   dropped and those ebin dirs are put on the code path before anything is compiled.
  #
  # `mix test` never fetches anything. When neither source is present it prints one line
  # saying why the suite is skipped and exits 0 (see `test/1` below).
  @libs_env "PHC_PROCESS_HUB_LIBS"

  def project do
    [
      app: :phc_harness,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      start_permanent: false,
      deps: deps(),
      aliases: [test: &test/1]
    ]
  end

  def application do
    # With the offline copy there is no dep entry, so name the app here (its .app file lists
    # blockade and hash_ring), as a fetched dependency would be.
    extra = if offline_libs(), do: [:process_hub], else: []
    [extra_applications: [:logger, :crypto] ++ extra]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp deps do
    case offline_libs() do
      nil -> [{:process_hub, "~> 0.4.1-beta"}]
      _dir -> []
    end
  end

  # --- offline copy -------------------------------------------------------------------------

  defp offline_libs do
    case System.get_env(@libs_env) do
      nil -> nil
      "" -> nil
      dir -> Path.expand(dir)
    end
  end

  # Evaluated when mix.exs is loaded, i.e. before compile/test: put the offline ebins on the
  # code path of the mix VM. The test suite hands the same path to every BEAM node it starts.
  if dir = System.get_env(@libs_env) do
    if dir != "" do
      for ebin <- Path.wildcard(Path.join(Path.expand(dir), "*/ebin")) do
        Code.prepend_path(ebin)
      end
    end
  end

  # --- `mix test` without ProcessHub ----------------------------------------------------------

  # `mix test` checks that ProcessHub is actually present before Mix looks at dependencies.
  # Without this, an unfetched hex dependency stops `mix test` with "run mix deps.get" (or, when
  # Hex itself is not installed, with an offer to download it), and neither works offline.
  defp test(args) do
    case process_hub_source() do
      {:missing, why} ->
        Mix.shell().info(
          "phc_harness: SKIPPED, ProcessHub is not available (#{why}). " <>
            "Run `mix deps.get` or set #{@libs_env} to a prebuilt copy; see README.md."
        )

      _source ->
        Mix.Task.run("test", args)
    end
  end

  defp process_hub_source do
    deps_path = Mix.Project.deps_path()

    cond do
      dir = offline_libs() ->
        missing =
          for app <- ~w(process_hub blockade hash_ring),
              not File.dir?(Path.join([dir, app, "ebin"])),
              do: app

        if missing == [] do
          {:libs, dir}
        else
          Mix.raise("#{@libs_env}=#{dir} lacks #{Enum.join(missing, ", ")} (need DIR/<app>/ebin)")
        end

      File.exists?(Path.join([deps_path, "process_hub", "mix.exs"])) ->
        :hex

      true ->
        {:missing, "#{@libs_env} is not set and #{deps_path}/process_hub was never fetched"}
    end
  end
end
