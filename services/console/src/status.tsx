/** Small shared pieces: state badges, progress bars, the live indicator. */
import type { ComponentChildren } from 'preact';

/** A state in words with a colour class (the colour is never the only cue). */
export function Badge(props: { state: string }) {
  return <span class={`badge s-${props.state.replace(/\s+/g, '-')}`}>{props.state}</span>;
}

/** A labelled progress bar. */
export function Progress(props: { value: number; label: string }) {
  return (
    <span class="progress">
      <progress max={100} value={props.value} aria-label={props.label} />
      <span aria-hidden="true">{props.value}%</span>
    </span>
  );
}

/** Whether the live stream is connected, announced politely to screen readers. */
export function Live(props: { up: boolean }) {
  return (
    <span class={`live ${props.up ? 'up' : 'down'}`} role="status" aria-live="polite">
      {props.up ? 'live' : 'reconnecting…'}
    </span>
  );
}

/** An error line (alert role), or nothing. */
export function ErrorLine(props: { error: string | null; children?: ComponentChildren }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {props.error}
      {props.children}
    </p>
  );
}
