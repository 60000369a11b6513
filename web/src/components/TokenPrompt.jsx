import { useState } from 'preact/hooks';
import { saveToken } from '../api.js';

/** Asked for when the API answers 401; kept in the browser for the next visit. */
export function TokenPrompt() {
  const [t, setT] = useState('');
  return (
    <div class="modal" role="dialog" aria-label="access token">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (t.trim()) {
            saveToken(t.trim());
            location.reload();
          }
        }}
      >
        <h2>Access token</h2>
        <p>
          This sensor asks for its token. On the router, <code>netwatch token</code> prints it.
        </p>
        <input aria-label="token" autoFocus value={t} onInput={(e) => setT(e.currentTarget.value)} />
        <button type="submit">Connect</button>
      </form>
    </div>
  );
}
