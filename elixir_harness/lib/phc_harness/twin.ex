defmodule PhcHarness.Twin do
  @moduledoc """
  Shared plumbing for the BEAM twins of phc's built-in C child types (`:phc_echo`,
  `:phc_counter`, `:phc_kv`).

  `use PhcHarness.Twin` gives a twin ProcessHub's HotSwap state handover. When
  `ProcessHub.Strategy.Migration.HotSwap` is on the code path at compile time the twin simply
  `use`s it; otherwise the same two handover messages are handled here, with the same shapes,
  so the module compiles (and hands over state) without ProcessHub:

    * `{:process_hub, :send_handover_state, receiver, child_id, opts}`: send
      `{:process_hub, :handover, child_id, {state, opts}}` to `receiver`;
    * `{:process_hub, :handover, child_id, {state, opts}}`: adopt `state` (and confirm when
      `opts[:confirm_handover]`).

  The handover state of every twin is its whole GenServer state (integer, map, term), which
  is also what the C child types hand over. ColdSwap needs nothing from the twin.
  """

  @hotswap ProcessHub.Strategy.Migration.HotSwap

  defmacro __using__(_opts) do
    if Code.ensure_loaded?(@hotswap) do
      quote do
        use ProcessHub.Strategy.Migration.HotSwap
      end
    else
      quote do
        @impl true
        def handle_info({:process_hub, :send_handover_state, receiver, cid, opts}, state) do
          if is_pid(receiver),
            do: send(receiver, {:process_hub, :handover, cid, {state, opts}})

          if is_pid(opts[:retention_receiver]),
            do: send(opts[:retention_receiver], {:process_hub, :retention_handled, cid})

          {:noreply, state}
        end

        def handle_info({:process_hub, :handover, cid, {handover_state, opts}}, _state) do
          if Keyword.get(opts, :confirm_handover, false),
            do: send(opts[:confirmation_receiver], {:process_hub, :handover_confirmed, cid})

          {:noreply, handover_state}
        end
      end
    end
  end

  @doc "True when the twins were compiled against ProcessHub's own HotSwap module."
  def hotswap_from_process_hub?, do: function_exported?(:phc_counter, :prepare_handover_state, 1)
end

defmodule :phc_echo do
  @moduledoc "BEAM twin of phc's `phc_echo`: a call replies with the request itself."
  use GenServer
  use PhcHarness.Twin

  # Any other message is ignored, as the C child does.
  def handle_info(_msg, state), do: {:noreply, state}

  def start_link(arg \\ nil), do: GenServer.start_link(__MODULE__, arg)

  @impl true
  def init(arg), do: {:ok, arg}

  @impl true
  def handle_call(request, _from, state), do: {:reply, request, state}

  @impl true
  def handle_cast(_msg, state), do: {:noreply, state}
end

defmodule :phc_counter do
  @moduledoc """
  BEAM twin of phc's `phc_counter`: integer state; `{:add, n}` → new value, `:get` → value,
  `:mode` → the mode of the last `{:process_hub, :redundancy_signal, mode}` (nil before any).

  `start_link/1` takes the initial value as an integer, or as the MFA argument list / map a
  child spec carries: `0`, `[0]`, `%{value: 0}`, `[]`/`nil` (0).
  """
  use GenServer
  use PhcHarness.Twin

  # The last redundancy signal's mode lives in the process dictionary, so the handover state
  # stays the integer (as in the C child).
  def handle_info({:process_hub, :redundancy_signal, mode}, state) do
    Process.put(:phc_mode, mode)
    {:noreply, state}
  end

  def handle_info(_msg, state), do: {:noreply, state}

  def start_link(init \\ 0), do: GenServer.start_link(__MODULE__, initial(init))

  @doc false
  def initial(n) when is_integer(n), do: n
  def initial(nil), do: 0
  def initial([]), do: 0
  def initial([n]), do: initial(n)
  def initial(%{value: n}), do: initial(n)
  def initial(%{"value" => n}), do: initial(n)
  def initial(other), do: raise(ArgumentError, "phc_counter: bad initial value #{inspect(other)}")

  @impl true
  def init(n), do: {:ok, n}

  @impl true
  def handle_call({:add, n}, _from, state) when is_integer(n), do: {:reply, state + n, state + n}
  def handle_call(:get, _from, state), do: {:reply, state, state}
  def handle_call(:mode, _from, state), do: {:reply, Process.get(:phc_mode), state}
  def handle_call(_other, _from, state), do: {:reply, {:error, :badarg}, state}

  @impl true
  def handle_cast({:add, n}, state) when is_integer(n), do: {:noreply, state + n}
  def handle_cast(_msg, state), do: {:noreply, state}
end

defmodule :phc_kv do
  @moduledoc """
  BEAM twin of phc's `phc_kv`: map state; `{:put, k, v}` → `:ok`, `{:get, k}` → value or
  `nil`, `:keys` → list of keys (term order).

  `start_link/1` takes a map, a list of `{k, v}`, or the MFA argument list holding one of them
  (`[%{}]`); `[]`/`nil` is the empty map.
  """
  use GenServer
  use PhcHarness.Twin

  def handle_info(_msg, state), do: {:noreply, state}

  def start_link(init \\ %{}), do: GenServer.start_link(__MODULE__, initial(init))

  @doc false
  def initial(nil), do: %{}
  def initial([]), do: %{}
  def initial(%{} = m), do: m
  def initial([%{} = m]), do: m

  def initial(list) when is_list(list) do
    if Enum.all?(list, &match?({_, _}, &1)),
      do: Map.new(list),
      else: raise(ArgumentError, "phc_kv: bad initial value #{inspect(list)}")
  end

  @impl true
  def init(m), do: {:ok, m}

  @impl true
  def handle_call({:put, k, v}, _from, state), do: {:reply, :ok, Map.put(state, k, v)}
  def handle_call({:get, k}, _from, state), do: {:reply, Map.get(state, k), state}
  def handle_call(:keys, _from, state), do: {:reply, state |> Map.keys() |> Enum.sort(), state}
  def handle_call(_other, _from, state), do: {:reply, {:error, :badarg}, state}

  @impl true
  def handle_cast({:put, k, v}, state), do: {:noreply, Map.put(state, k, v)}
  def handle_cast(_msg, state), do: {:noreply, state}
end
