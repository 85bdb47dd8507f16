/**
 * The bot will not take this activity, though its token was good: it names a serviceUrl outside
 * Teams' hosts, where replies and later notifications would carry the bot's token. Nothing of it
 * is stored; the endpoint answers 403.
 */
export class RefusedActivity extends Error {
  override name = 'RefusedActivity';
  readonly status = 403;
}
