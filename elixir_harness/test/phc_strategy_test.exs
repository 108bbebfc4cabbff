defmodule PhcHarness.PhcStrategyTest do
  @moduledoc """
  Strategies taken from the hub: two BEAM members run a hub on non-default strategies
  (the seed guides' Replication), phc-node joins with no strategy flags and must adopt them;
  a phc whose config file names other strategies warns and runs the hub's. A fresh cluster per
  test. Select with `mix test --only strategy` (or `--only adopt`).
  """
  use ExUnit.Case, async: false
  import PhcHarness.Cluster
  import PhcHarness.PhcCase

  @moduletag :phc
  @moduletag :strategy
  @replication ProcessHub.Strategy.Redundancy.Replication

  defp beam_hub(hub_opts) do
    a = start_beam(:a)
    b = start_beam(:b)
    :ok = connect_all([a, b])
    :ok = start_hub(a, hub_opts)
    :ok = start_hub(b, hub_opts)

    eventually(
      fn -> hub_nodes(a) == [a, b] and hub_nodes(b) == [a, b] end,
      15_000,
      "BEAM hub did not form"
    )

    {a, b}
  end

  defp replication(opts), do: [redundancy_strategy: struct!(@replication, opts)]

  defp config_file(name, hub_opts) do
    File.mkdir_p!("test_logs")
    path = Path.expand("test_logs/#{name}.config")
    File.write!(path, "{hub, my_hub, #{hub_opts}}.\n")
    path
  end

  defp wait_log(pattern) do
    eventually(fn -> phc_log() =~ pattern end, 15_000, fn ->
      "phc log lacks #{inspect(pattern)}:\n" <> phc_log()
    end)
  end

  setup do
    on_exit(fn -> stop_all() end)
    :ok
  end

  describe "adopt" do
    @describetag :adopt

    test "phc with no strategy flags adopts the hub's Replication and says so in one line" do
      {a, b} =
        beam_hub(
          replication(
            replication_factor: 2,
            replication_model: :active_passive,
            redundancy_signal: :all
          )
        )

      join_phc([a, b])
      wait_log("adopted the hub's strategies from")
      [line] = phc_log() |> String.split("\n") |> Enum.filter(&(&1 =~ "adopted the hub's"))
      assert line =~ "redundancy_strategy Replication{"
      assert line =~ "replication_factor: 2"
      assert line =~ "replication_model: active_passive"
      assert line =~ "redundancy_signal: all"
      refute phc_log() =~ "differs from the hub's"
    end

    test "a hub on ProcessHub's defaults: phc keeps its own and says the peers run them" do
      {a, b} = beam_hub([])
      join_phc([a, b])
      wait_log("runs phc's strategies")
      refute phc_log() =~ "adopted the hub's"
    end

    test "configured strategies that disagree with the hub's: a warning naming both, the hub's win" do
      {a, b} = beam_hub(replication(replication_factor: 2))

      cfg =
        config_file(
          "strategy_disagree",
          "[{redundancy_strategy, {'Elixir.ProcessHub.Strategy.Redundancy.Replication', " <>
            "[{replication_factor, 3}]}}]"
        )

      join_phc([a, b], hub: nil, extra_args: ["-config", cfg])
      wait_log("configured redundancy_strategy Replication")

      wait_log(
        "configured redundancy_strategy Replication{replication_factor: 3} differs " <>
          "from the hub's Replication{"
      )

      wait_log("adopted the hub's strategies from")
    end

    test "unknown strategy or option in the config file: named, exit 2" do
      bad = [
        {"Elixir.ProcessHub.Strategy.Redundancy.Replicashun", "[]", "unknown strategy"},
        {"Elixir.ProcessHub.Strategy.Redundancy.Replication", "[{replication_modle, x}]",
         "replication_modle"},
        {"Elixir.ProcessHub.Strategy.Redundancy.Replication", "[{redundancy_signal, sometimes}]",
         "redundancy_signal"}
      ]

      for {{mod, opts, named}, i} <- Enum.with_index(bad) do
        cfg = config_file("strategy_bad_#{i}", "[{redundancy_strategy, {'#{mod}', #{opts}}}]")

        {out, st} =
          System.cmd(phc_path(), ["-name", "bad#{i}@127.0.0.1", "-config", cfg],
            stderr_to_stdout: true
          )

        assert st == 2, out
        assert out =~ named, out
      end
    end
  end
end
