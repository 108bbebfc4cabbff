defmodule PhcHarness.HookCollector do
  @moduledoc """
  A registered process on a BEAM member that stores every message it receives, in order.
  Hook handlers registered as `%HookManager{m: :erlang, f: :send, a: [collector_pid, :_]}`
  (on a BEAM member or on phc) deliver their hook data here.
  """

  def start(name) do
    parent = self()

    pid =
      spawn(fn ->
        Process.register(self(), name)
        send(parent, {name, :ready})
        loop([])
      end)

    receive do
      {^name, :ready} -> pid
    after
      5_000 -> raise "collector #{name} did not start"
    end
  end

  @doc "Everything received so far, oldest first."
  def messages(name) do
    ref = make_ref()
    send(name, {:"$collector_get", self(), ref})

    receive do
      {^ref, msgs} -> msgs
    after
      5_000 -> raise "collector #{name} did not answer"
    end
  end

  def stop(name), do: send(name, :"$collector_stop")

  defp loop(acc) do
    receive do
      {:"$collector_get", from, ref} ->
        send(from, {ref, Enum.reverse(acc)})
        loop(acc)

      :"$collector_stop" ->
        :ok

      msg ->
        loop([msg | acc])
    end
  end
end
